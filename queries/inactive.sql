-- Recipients with no human signal (an open or a click) in their last N campaigns (param n, default 3): the list-hygiene export.
-- param n=3
--
-- Only recipients who received at least N campaigns are listed. An
-- image-proxy open counts as a signal (a person opened); MPP prefetches,
-- scanners and crawlers do not.
WITH received AS (
    SELECT recipient_id, campaign_id, sent_at,
           row_number() OVER (PARTITION BY recipient_id ORDER BY sent_at DESC, campaign_id DESC) AS k
    FROM manifest
),
last_n AS (SELECT * FROM received WHERE k <= $n),
signal AS (
    SELECT DISTINCT campaign_id, recipient_id FROM events
    WHERE (kind = 'open' AND class IN ('human', 'image_proxy')) OR (kind = 'click' AND class = 'human')
)
SELECT l.recipient_id, count(*) AS campaigns, max(l.sent_at) AS last_sent_at
FROM last_n l
LEFT JOIN signal s ON s.campaign_id = l.campaign_id AND s.recipient_id = l.recipient_id
GROUP BY l.recipient_id
HAVING count(*) = $n AND count(s.recipient_id) = 0
ORDER BY l.recipient_id
