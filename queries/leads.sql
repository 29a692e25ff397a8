-- Recipients ranked by an engagement score (human opens and clicks, opens on several days, recency), for sales follow-up.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
--
-- score = opens + 3 x clicks + 2 x (days with an open - 1)
--         + 5 x 0.5 ^ (days from the last signal to the newest event / 7)
-- Opens are human or image-proxy opens, clicks human clicks. Recency is
-- measured to the newest event in the dataset, so a report is reproducible.
-- Built on the view `tiers`: only signals from campaigns where the
-- recipient is engaged or proxied count, so a recipient whose hits are all
-- scanners, crawlers or Apple prefetches is never a lead. `tier` is the
-- best tier the recipient reached.
WITH sig AS (
    SELECT e.recipient_id, e.kind, e.ts, t.tier FROM events e
    JOIN tiers t ON t.campaign_id = e.campaign_id AND t.recipient_id = e.recipient_id
    WHERE ((e.kind = 'open' AND e.class IN ('human', 'image_proxy')) OR (e.kind = 'click' AND e.class = 'human'))
      AND t.tier IN ('engaged', 'proxied')
      AND CAST(e.ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR e.campaign_id = $campaign)
),
per AS (
    SELECT recipient_id,
           count(CASE WHEN kind = 'open' THEN 1 END) AS opens,
           count(CASE WHEN kind = 'click' THEN 1 END) AS clicks,
           count(DISTINCT CASE WHEN kind = 'open' THEN CAST(ts AS DATE) END) AS open_days,
           max(ts) AS last_signal,
           min(tier) AS tier
    FROM sig GROUP BY recipient_id
),
newest AS (SELECT max(ts) AS ts FROM events),
scored AS (
    SELECT p.*, p.opens + 3 * p.clicks + 2 * greatest(p.open_days - 1, 0)
           + 5.0 * power(0.5, (date_part('epoch', n.ts) - date_part('epoch', p.last_signal)) / 86400.0 / 7.0) AS score
    FROM per p CROSS JOIN newest n
)
SELECT rank() OVER (ORDER BY score DESC) AS rank, recipient_id, opens, clicks, open_days, last_signal, score, tier
FROM scored
ORDER BY rank, recipient_id
