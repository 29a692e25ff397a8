//! Charts as inline SVG: a page that embeds them needs no script, no font
//! and no network. Small on purpose: grouped vertical bars and horizontal
//! bars cover every chart of the nightly report.

use crate::output::html_escape;

/// A named series of values, one per label, with its colour.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// One value per label.
    pub values: Vec<f64>,
    /// CSS colour.
    pub color: &'static str,
}

/// Colours that stay apart for readers with the common colour blindnesses (Okabe-Ito).
pub const PALETTE: [&str; 6] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
];

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Grouped vertical bars: one group per label, one bar per series, values printed on the bars.
pub fn bars(title: &str, labels: &[String], series: &[Series]) -> String {
    let (w, h, left, bottom, top) = (720.0, 300.0, 40.0, 60.0, 40.0);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max)
        .max(1.0);
    let plot_h = h - bottom - top;
    let group_w = (w - left - 10.0) / labels.len().max(1) as f64;
    let bar_w = (group_w * 0.8 / series.len().max(1) as f64).max(1.0);
    let mut s = svg_open(title, w, h);
    s.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>\n",
        h - bottom,
        w - 10.0,
        h - bottom
    ));
    for (i, label) in labels.iter().enumerate() {
        let gx = left + i as f64 * group_w + group_w * 0.1;
        for (j, ser) in series.iter().enumerate() {
            let v = ser.values.get(i).copied().unwrap_or(0.0);
            let bh = plot_h * v / max;
            let x = gx + j as f64 * bar_w;
            let y = h - bottom - bh;
            s.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}: {}</title></rect>\n",
                bar_w * 0.95,
                ser.color,
                html_escape(&format!("{} {label}", ser.name)),
                fmt_num(v)
            ));
            if v > 0.0 {
                s.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>\n",
                    x + bar_w * 0.47,
                    y - 3.0,
                    fmt_num(v)
                ));
            }
        }
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n",
            gx + group_w * 0.4,
            h - bottom + 16.0,
            html_escape(label)
        ));
    }
    legend(
        &mut s,
        series.iter().map(|x| (x.name.as_str(), x.color)),
        left,
        h - 18.0,
    );
    s.push_str("</svg>\n");
    s
}

/// Horizontal bars, one per item, with the value (and share) at the end.
pub fn hbars(title: &str, items: &[(String, f64)], as_share: bool) -> String {
    let row = 22.0;
    let (w, left, top) = (720.0, 200.0, 36.0);
    let h = top + row * items.len().max(1) as f64 + 10.0;
    let max = items
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0f64, f64::max)
        .max(if as_share { 1.0 } else { 1e-9 });
    let mut s = svg_open(title, w, h);
    for (i, (label, v)) in items.iter().enumerate() {
        let y = top + i as f64 * row;
        let bw = (w - left - 80.0) * v / max;
        let text = if as_share {
            format!("{:.1}%", v * 100.0)
        } else {
            fmt_num(*v)
        };
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text>\n",
            left - 6.0,
            y + 14.0,
            html_escape(label)
        ));
        s.push_str(&format!(
            "<rect x=\"{left}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {text}</title></rect>\n",
            row - 6.0,
            PALETTE[0],
            html_escape(label)
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{text}</text>\n",
            left + bw + 6.0,
            y + 14.0
        ));
    }
    s.push_str("</svg>\n");
    s
}

fn svg_open(title: &str, w: f64, h: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\">\n\
         <title>{t}</title>\n<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">{t}</text>\n",
        t = html_escape(title)
    )
}

fn legend<'a>(s: &mut String, items: impl Iterator<Item = (&'a str, &'a str)>, mut x: f64, y: f64) {
    for (name, color) in items {
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{color}\"/>\n",
            y - 9.0
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{y:.1}\" font-size=\"11\">{}</text>\n",
            x + 14.0,
            html_escape(name)
        ));
        x += 24.0 + 7.0 * name.len() as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value_and_escape_labels() {
        let svg = bars(
            "t <1>",
            &["a&b".to_string(), "c".to_string()],
            &[Series {
                name: "n".into(),
                values: vec![2.0, 4.0],
                color: PALETTE[0],
            }],
        );
        assert!(svg.contains("t &lt;1&gt;") && svg.contains("a&amp;b"));
        assert!(
            svg.contains("height=\"200.0\""),
            "the largest bar fills the plot: {svg}"
        );
        assert!(svg.contains("height=\"100.0\""));
        let h = hbars("shares", &[("x".into(), 0.25)], true);
        assert!(h.contains("25.0%"));
    }
}
