-- One row per campaign: recipients, unique human opens and clicks, machine-only opens, bot clicks, rates and median seconds to first open.
-- param campaign=
--
-- Recipients who opted out (mint --opt-out) are not in the denominator:
-- `untracked` counts them. With aggregate tracking (mint --tracking
-- aggregate) the dataset holds no recipient identity, so the unique counts
-- and rates are null; `open_hits` and `click_hits` are totals, and `note`
-- says so.
--
-- Each recipient's signals first, then per campaign. They are read off
-- `tallies` (hits counted per person, kind and class as each events file
-- was written) rather than the events: a few rows a person instead of
-- every hit, the same answers.
-- A person opened: an open by a human or through a webmail image proxy, or
-- a human click (a click implies an open even when images were blocked).
-- "Opened" and "clicked" are read off the hit counts rather than kept as
-- flags of their own.
WITH recips AS (
    SELECT campaign_id,
           sum(CASE WHEN coalesce(tracked, true) THEN coalesce(recipients, 1) ELSE 0 END) AS recipients,
           sum(CASE WHEN coalesce(tracked, true) THEN 0 ELSE coalesce(recipients, 1) END) AS untracked,
           bool_or(recipient_id = '*') AS aggregate
    FROM manifest
    WHERE $campaign = '' OR campaign_id = $campaign
    GROUP BY campaign_id
),
per_recipient AS (
    SELECT campaign_id, recipient_id,
           bool_or(kind = 'open' AND class = 'apple_mpp') AS mpp,
           min(CASE WHEN kind = 'open' AND class IN ('human', 'image_proxy') THEN first_seconds END) AS first_open,
           sum(CASE WHEN kind = 'click' AND class IN ('scanner', 'crawler') THEN hits ELSE 0 END) AS bot_clicks,
           sum(CASE WHEN kind = 'open' AND class IN ('human', 'image_proxy') THEN hits ELSE 0 END) AS open_hits,
           sum(CASE WHEN kind = 'click' AND class = 'human' THEN hits ELSE 0 END) AS click_hits
    FROM tallies
    WHERE $campaign = '' OR campaign_id = $campaign
    GROUP BY campaign_id, recipient_id
),
per_campaign AS (
    SELECT campaign_id,
           count(CASE WHEN open_hits > 0 OR click_hits > 0 THEN 1 END) AS unique_opens,
           count(CASE WHEN mpp AND open_hits = 0 AND click_hits = 0 THEN 1 END) AS machine_only_opens,
           count(CASE WHEN click_hits > 0 THEN 1 END) AS unique_clicks,
           sum(bot_clicks) AS bot_clicks,
           median(CAST(first_open AS DOUBLE)) AS median_seconds_to_open,
           sum(open_hits) AS open_hits,
           sum(click_hits) AS click_hits
    FROM per_recipient
    GROUP BY campaign_id
)
SELECT r.campaign_id,
       r.recipients,
       CASE WHEN r.aggregate THEN NULL ELSE coalesce(e.unique_opens, 0) END AS unique_opens,
       CASE WHEN r.aggregate THEN NULL ELSE coalesce(e.machine_only_opens, 0) END AS machine_only_opens,
       CASE WHEN r.aggregate THEN NULL ELSE coalesce(e.unique_clicks, 0) END AS unique_clicks,
       coalesce(e.bot_clicks, 0) AS bot_clicks,
       CASE WHEN r.aggregate THEN NULL ELSE CAST(coalesce(e.unique_opens, 0) AS DOUBLE) / nullif(r.recipients, 0) END AS open_rate,
       CASE WHEN r.aggregate THEN NULL ELSE CAST(coalesce(e.unique_clicks, 0) AS DOUBLE) / nullif(r.recipients, 0) END AS click_rate,
       CASE WHEN r.aggregate THEN NULL
            WHEN coalesce(e.unique_opens, 0) = 0 THEN 0.0
            ELSE CAST(e.unique_clicks AS DOUBLE) / e.unique_opens END AS click_to_open_rate,
       CASE WHEN r.aggregate THEN NULL ELSE e.median_seconds_to_open END AS median_seconds_to_open,
       r.untracked,
       coalesce(e.open_hits, 0) AS open_hits,
       coalesce(e.click_hits, 0) AS click_hits,
       CASE WHEN r.aggregate THEN 'aggregate tracking: unique counts are not available; open_hits and click_hits are totals'
            WHEN r.untracked > 0 THEN 'opted-out recipients are not in the denominator' END AS note
FROM recips r
LEFT JOIN per_campaign e ON e.campaign_id = r.campaign_id
ORDER BY r.campaign_id
