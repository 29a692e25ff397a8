-- One row per campaign: recipients, unique human opens and clicks, machine-only opens, bot clicks, rates and median seconds to first open.
-- param campaign=
--
-- Recipients who opted out (mint --opt-out) are not in the denominator:
-- `untracked` counts them. With aggregate tracking (mint --tracking
-- aggregate) the dataset holds no recipient identity, so the unique counts
-- and rates are null; `open_hits` and `click_hits` are totals, and `note`
-- says so.
WITH recips AS (
    SELECT campaign_id,
           sum(CASE WHEN coalesce(tracked, true) THEN coalesce(recipients, 1) ELSE 0 END) AS recipients,
           sum(CASE WHEN coalesce(tracked, true) THEN 0 ELSE coalesce(recipients, 1) END) AS untracked,
           bool_or(recipient_id = '*') AS aggregate
    FROM manifest
    WHERE $campaign = '' OR campaign_id = $campaign
    GROUP BY campaign_id
),
-- A person opened: an open by a human or through a webmail image proxy, or
-- a human click (a click implies an open even when images were blocked).
opened AS (
    SELECT campaign_id, recipient_id
    FROM events
    WHERE (kind = 'open' AND class IN ('human', 'image_proxy'))
       OR (kind = 'click' AND class = 'human')
    GROUP BY campaign_id, recipient_id
),
clicked AS (
    SELECT campaign_id, recipient_id
    FROM events
    WHERE kind = 'click' AND class = 'human'
    GROUP BY campaign_id, recipient_id
),
mpp AS (
    SELECT campaign_id, recipient_id
    FROM events
    WHERE kind = 'open' AND class = 'apple_mpp'
    GROUP BY campaign_id, recipient_id
),
first_open AS (
    SELECT campaign_id, recipient_id, min(seconds_since_sent) AS secs
    FROM events
    WHERE kind = 'open' AND class IN ('human', 'image_proxy')
    GROUP BY campaign_id, recipient_id
),
per_campaign AS (
    SELECT r.campaign_id,
           r.recipients,
           r.untracked,
           r.aggregate,
           (SELECT count(*) FROM events e
             WHERE e.campaign_id = r.campaign_id AND e.kind = 'open'
               AND e.class IN ('human', 'image_proxy')) AS open_hits,
           (SELECT count(*) FROM events e
             WHERE e.campaign_id = r.campaign_id AND e.kind = 'click' AND e.class = 'human') AS click_hits,
           (SELECT count(*) FROM opened o WHERE o.campaign_id = r.campaign_id) AS unique_opens,
           (SELECT count(*) FROM mpp m
             WHERE m.campaign_id = r.campaign_id
               AND NOT EXISTS (SELECT 1 FROM opened o
                               WHERE o.campaign_id = m.campaign_id AND o.recipient_id = m.recipient_id)) AS machine_only_opens,
           (SELECT count(*) FROM clicked c WHERE c.campaign_id = r.campaign_id) AS unique_clicks,
           (SELECT count(*) FROM events e
             WHERE e.campaign_id = r.campaign_id AND e.kind = 'click'
               AND e.class IN ('scanner', 'crawler')) AS bot_clicks,
           (SELECT median(CAST(f.secs AS DOUBLE)) FROM first_open f WHERE f.campaign_id = r.campaign_id) AS median_seconds_to_open
    FROM recips r
)
SELECT campaign_id,
       recipients,
       CASE WHEN aggregate THEN NULL ELSE unique_opens END AS unique_opens,
       CASE WHEN aggregate THEN NULL ELSE machine_only_opens END AS machine_only_opens,
       CASE WHEN aggregate THEN NULL ELSE unique_clicks END AS unique_clicks,
       bot_clicks,
       CASE WHEN aggregate THEN NULL ELSE CAST(unique_opens AS DOUBLE) / nullif(recipients, 0) END AS open_rate,
       CASE WHEN aggregate THEN NULL ELSE CAST(unique_clicks AS DOUBLE) / nullif(recipients, 0) END AS click_rate,
       CASE WHEN aggregate THEN NULL
            WHEN unique_opens = 0 THEN 0.0
            ELSE CAST(unique_clicks AS DOUBLE) / unique_opens END AS click_to_open_rate,
       CASE WHEN aggregate THEN NULL ELSE median_seconds_to_open END AS median_seconds_to_open,
       untracked,
       open_hits,
       click_hits,
       CASE WHEN aggregate THEN 'aggregate tracking: unique counts are not available; open_hits and click_hits are totals'
            WHEN untracked > 0 THEN 'opted-out recipients are not in the denominator' END AS note
FROM per_campaign
ORDER BY campaign_id
