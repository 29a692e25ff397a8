-- Per campaign and variant: open and click rates against the first variant, with two-proportion z-test p-values and 95% confidence intervals.
-- param campaign=
--
-- Opens and clicks count recipients, as in campaign-summary (a human or
-- image-proxy open, or a human click; clicks by humans only). The first
-- variant in sort order is the baseline. p-values are two-sided, from the
-- pooled two-proportion z-test; the normal tail uses Abramowitz & Stegun
-- 7.1.26 (absolute error under 1.5e-7). Confidence intervals are Wald
-- intervals of the difference, unpooled.
--
-- Recipients who opted out (mint --opt-out) are not in the denominator;
-- `untracked` says how many there were. With aggregate tracking (mint
-- --tracking aggregate) there are no unique counts: those columns are null
-- and `open_hits`, `click_hits` and the hits per recipient are what remains.
WITH recips AS (
    SELECT campaign_id, coalesce(variant, '') AS variant, recipient_id,
           coalesce(recipients, 1) AS n, coalesce(tracked, true) AS tracked
    FROM manifest
    WHERE $campaign = '' OR campaign_id = $campaign
),
hits AS (
    SELECT campaign_id, coalesce(variant, '') AS variant,
           count(CASE WHEN kind = 'open' AND class IN ('human', 'image_proxy') THEN 1 END) AS open_hits,
           count(CASE WHEN kind = 'click' AND class = 'human' THEN 1 END) AS click_hits
    FROM events
    GROUP BY campaign_id, coalesce(variant, '')
),
-- Who opened and who clicked, off `tallies` (a few rows a person, where
-- the events have every hit).
opened AS (
    SELECT DISTINCT campaign_id, recipient_id FROM tallies
    WHERE (kind = 'open' AND class IN ('human', 'image_proxy')) OR (kind = 'click' AND class = 'human')
),
clicked AS (
    SELECT DISTINCT campaign_id, recipient_id FROM tallies WHERE kind = 'click' AND class = 'human'
),
per_variant AS (
    SELECT r.campaign_id, r.variant,
           sum(CASE WHEN r.tracked THEN r.n ELSE 0 END) AS recipients,
           sum(CASE WHEN r.tracked THEN 0 ELSE r.n END) AS untracked,
           bool_or(r.recipient_id = '*') AS aggregate,
           CASE WHEN bool_or(r.recipient_id = '*') THEN NULL ELSE count(o.recipient_id) END AS unique_opens,
           CASE WHEN bool_or(r.recipient_id = '*') THEN NULL ELSE count(c.recipient_id) END AS unique_clicks
    FROM recips r
    LEFT JOIN opened o ON o.campaign_id = r.campaign_id AND o.recipient_id = r.recipient_id AND r.tracked
    LEFT JOIN clicked c ON c.campaign_id = r.campaign_id AND c.recipient_id = r.recipient_id AND r.tracked
    GROUP BY r.campaign_id, r.variant
),
ranked AS (
    SELECT *, CAST(unique_opens AS DOUBLE) / recipients AS open_rate,
              CAST(unique_clicks AS DOUBLE) / recipients AS click_rate,
              row_number() OVER (PARTITION BY campaign_id ORDER BY variant) AS pos
    FROM per_variant
),
vs AS (
    SELECT v.*, b.variant AS baseline, CAST(b.recipients AS DOUBLE) AS n1, CAST(v.recipients AS DOUBLE) AS n2,
           b.unique_opens AS o1, b.unique_clicks AS c1, b.open_rate AS p1o, b.click_rate AS p1c
    FROM ranked v JOIN ranked b ON b.campaign_id = v.campaign_id AND b.pos = 1
),
z AS (
    SELECT *,
        CASE WHEN pos = 1 THEN NULL ELSE (open_rate - p1o) / nullif(sqrt(
            ((o1 + unique_opens) / (n1 + n2)) * (1.0 - (o1 + unique_opens) / (n1 + n2)) * (1.0 / n1 + 1.0 / n2)), 0.0) END AS z_open,
        CASE WHEN pos = 1 THEN NULL ELSE (click_rate - p1c) / nullif(sqrt(
            ((c1 + unique_clicks) / (n1 + n2)) * (1.0 - (c1 + unique_clicks) / (n1 + n2)) * (1.0 / n1 + 1.0 / n2)), 0.0) END AS z_click,
        1.959963984540054 * sqrt(p1o * (1.0 - p1o) / n1 + open_rate * (1.0 - open_rate) / n2) AS half_open,
        1.959963984540054 * sqrt(p1c * (1.0 - p1c) / n1 + click_rate * (1.0 - click_rate) / n2) AS half_click
    FROM vs
)
SELECT z.campaign_id, z.variant, baseline, z.recipients, unique_opens, unique_clicks, open_rate, click_rate,
       open_rate - p1o AS open_rate_diff,
       CASE WHEN z_open IS NULL THEN NULL ELSE
           (1.0 / (1.0 + 0.3275911 * abs(z_open) / sqrt(2.0))) * (0.254829592 + (1.0 / (1.0 + 0.3275911 * abs(z_open) / sqrt(2.0))) * (-0.284496736
           + (1.0 / (1.0 + 0.3275911 * abs(z_open) / sqrt(2.0))) * (1.421413741 + (1.0 / (1.0 + 0.3275911 * abs(z_open) / sqrt(2.0))) * (-1.453152027
           + (1.0 / (1.0 + 0.3275911 * abs(z_open) / sqrt(2.0))) * 1.061405429)))) * exp(-(z_open) * (z_open) / 2.0) END AS open_p_value,
       CASE WHEN pos = 1 THEN NULL ELSE open_rate - p1o - half_open END AS open_diff_ci_low,
       CASE WHEN pos = 1 THEN NULL ELSE open_rate - p1o + half_open END AS open_diff_ci_high,
       click_rate - p1c AS click_rate_diff,
       CASE WHEN z_click IS NULL THEN NULL ELSE
           (1.0 / (1.0 + 0.3275911 * abs(z_click) / sqrt(2.0))) * (0.254829592 + (1.0 / (1.0 + 0.3275911 * abs(z_click) / sqrt(2.0))) * (-0.284496736
           + (1.0 / (1.0 + 0.3275911 * abs(z_click) / sqrt(2.0))) * (1.421413741 + (1.0 / (1.0 + 0.3275911 * abs(z_click) / sqrt(2.0))) * (-1.453152027
           + (1.0 / (1.0 + 0.3275911 * abs(z_click) / sqrt(2.0))) * 1.061405429)))) * exp(-(z_click) * (z_click) / 2.0) END AS click_p_value,
       CASE WHEN pos = 1 THEN NULL ELSE click_rate - p1c - half_click END AS click_diff_ci_low,
       CASE WHEN pos = 1 THEN NULL ELSE click_rate - p1c + half_click END AS click_diff_ci_high,
       z.untracked,
       coalesce(h.open_hits, 0) AS open_hits,
       coalesce(h.click_hits, 0) AS click_hits,
       CAST(coalesce(h.open_hits, 0) AS DOUBLE) / nullif(z.recipients, 0) AS opens_per_recipient,
       CAST(coalesce(h.click_hits, 0) AS DOUBLE) / nullif(z.recipients, 0) AS clicks_per_recipient,
       CASE WHEN z.aggregate THEN 'aggregate tracking: unique counts are not available; hits are totals'
            WHEN z.untracked > 0 THEN 'opted-out recipients are not in the denominator' END AS note
FROM z
LEFT JOIN hits h ON h.campaign_id = z.campaign_id AND h.variant = z.variant
ORDER BY z.campaign_id, z.variant
