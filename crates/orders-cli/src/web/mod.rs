//! The pages `orders` serves and writes: the live dashboard of `orders local` (`/_local/`)
//! and the HTML report of `orders load --report`. Every asset is compiled into the binary,
//! so both work offline: the theme, the chart helper, and uPlot (vendored, MIT; its version
//! and licence are in `assets/vendor/uplot/`).

/// uPlot's script (`dist/uPlot.iife.min.js`), unchanged.
pub const UPLOT_JS: &str = include_str!("../../assets/vendor/uplot/uPlot.iife.min.js");
/// uPlot's stylesheet (`dist/uPlot.min.css`), unchanged.
pub const UPLOT_CSS: &str = include_str!("../../assets/vendor/uplot/uPlot.min.css");
/// The shared look: dark by default, light when the system asks for it.
pub const THEME_CSS: &str = include_str!("../../assets/theme.css");
/// `Charts.line(el, names, data, options)`: one uPlot chart in the theme's colours.
pub const CHARTS_JS: &str = include_str!("../../assets/charts.js");

/// The `<style>` and `<script>` elements every page starts with: the theme, uPlot and the
/// chart helper, inline (a report is one file; the dashboard needs no other request).
pub fn head_assets() -> String {
    format!(
        "<style>{UPLOT_CSS}</style>\n<style>{THEME_CSS}</style>\n<script>{UPLOT_JS}</script>\n<script>{CHARTS_JS}</script>\n"
    )
}

/// Makes JSON safe inside a `<script>` element: `</script>` (and `<!--`) cannot end it.
pub fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

pub mod dashboard;
pub mod report;
