//! `orders load --report FILE.html`: one run as a self-contained page.
