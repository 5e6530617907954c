//! The live dashboard of `orders local` (`/_local/`).
