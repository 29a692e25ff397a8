-- The view `tiers`: every recipient of every campaign with a tier and its
-- evidence. The recipients, inactive and leads reports all read it, so a
-- recipient is judged the same way everywhere.
--
--   engaged       a human click, or an open from a direct client
--   proxied       opens only through a webmail image proxy (a person opened;
--                 where and on what is the proxy's)
--   machine_only  only Apple MPP prefetches, scanners or crawlers: no person
--   silent        nothing
--   untracked     opted out (mint --opt-out): no pixel, no wrapped links
--
-- Aggregate tokens (mint --tracking aggregate) stand for no one and have
-- no tier.
CREATE VIEW tiers AS
WITH hits AS (
    -- Read off `tallies` (each person's hits counted by kind and class):
    -- the same counts as grouping every event, a few rows a person.
    SELECT campaign_id, recipient_id,
           sum(CASE WHEN kind = 'open' AND class = 'human' THEN hits ELSE 0 END) AS human_opens,
           sum(CASE WHEN kind = 'open' AND class = 'image_proxy' THEN hits ELSE 0 END) AS proxy_opens,
           sum(CASE WHEN kind = 'click' AND class = 'human' THEN hits ELSE 0 END) AS human_clicks,
           sum(CASE WHEN class IN ('apple_mpp', 'scanner', 'crawler') THEN hits ELSE 0 END) AS machine_hits,
           min(CASE WHEN class IN ('human', 'image_proxy') THEN first_ts END) AS first_signal
    FROM tallies
    GROUP BY campaign_id, recipient_id
)
SELECT m.campaign_id, m.recipient_id, m.sent_at,
       CASE WHEN NOT coalesce(m.tracked, true) THEN 'untracked'
            WHEN coalesce(h.human_clicks, 0) > 0 OR coalesce(h.human_opens, 0) > 0 THEN 'engaged'
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
WHERE m.recipient_id <> '*'
