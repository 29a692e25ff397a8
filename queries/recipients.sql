-- Every recipient of a campaign with a tier and its evidence: engaged (a human click or a direct open), proxied (opens only through a webmail proxy), machine_only (only MPP, scanners, crawlers) or silent.
-- param campaign=
WITH hits AS (
    SELECT campaign_id, recipient_id,
           count(CASE WHEN kind = 'open' AND class = 'human' THEN 1 END) AS human_opens,
           count(CASE WHEN kind = 'open' AND class = 'image_proxy' THEN 1 END) AS proxy_opens,
           count(CASE WHEN kind = 'click' AND class = 'human' THEN 1 END) AS human_clicks,
           count(CASE WHEN class IN ('apple_mpp', 'scanner', 'crawler') THEN 1 END) AS machine_hits,
           min(CASE WHEN class IN ('human', 'image_proxy') THEN ts END) AS first_signal
    FROM events
    GROUP BY campaign_id, recipient_id
)
SELECT m.campaign_id, m.recipient_id,
       CASE WHEN coalesce(h.human_clicks, 0) > 0 OR coalesce(h.human_opens, 0) > 0 THEN 'engaged'
            WHEN coalesce(h.proxy_opens, 0) > 0 THEN 'proxied'
            WHEN coalesce(h.machine_hits, 0) > 0 THEN 'machine_only'
            ELSE 'silent' END AS tier,
       coalesce(h.human_opens, 0) AS human_opens,
       coalesce(h.proxy_opens, 0) AS proxy_opens,
       coalesce(h.human_clicks, 0) AS human_clicks,
       coalesce(h.machine_hits, 0) AS machine_hits,
       h.first_signal
FROM manifest m
LEFT JOIN hits h ON h.campaign_id = m.campaign_id AND h.recipient_id = m.recipient_id
WHERE $campaign = '' OR m.campaign_id = $campaign
ORDER BY m.campaign_id, m.recipient_id
