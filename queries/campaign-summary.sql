-- One row per campaign: recipients, unique human opens and clicks, machine-only opens, bot clicks, rates and median seconds to first open.
-- param campaign=
WITH recips AS (
    SELECT campaign_id, count(*) AS recipients
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
       unique_opens,
       machine_only_opens,
       unique_clicks,
       bot_clicks,
       CAST(unique_opens AS DOUBLE) / recipients AS open_rate,
       CAST(unique_clicks AS DOUBLE) / recipients AS click_rate,
       CASE WHEN unique_opens = 0 THEN 0.0
            ELSE CAST(unique_clicks AS DOUBLE) / unique_opens END AS click_to_open_rate,
       median_seconds_to_open
FROM per_campaign
ORDER BY campaign_id
