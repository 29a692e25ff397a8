-- Recipients ranked by an engagement score (human opens and clicks, opens on several days, recency), for sales follow-up.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
--
-- score = opens + 3 x clicks + 2 x (days with an open - 1)
--         + 5 x 0.5 ^ (days from the last signal to the newest event / 7)
-- Opens are human or image-proxy opens, clicks human clicks. Recency is
-- measured to the newest event in the dataset, so a report is reproducible.
WITH sig AS (
    SELECT recipient_id, kind, ts FROM events
    WHERE ((kind = 'open' AND class IN ('human', 'image_proxy')) OR (kind = 'click' AND class = 'human'))
      AND CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR campaign_id = $campaign)
),
per AS (
    SELECT recipient_id,
           count(CASE WHEN kind = 'open' THEN 1 END) AS opens,
           count(CASE WHEN kind = 'click' THEN 1 END) AS clicks,
           count(DISTINCT CASE WHEN kind = 'open' THEN CAST(ts AS DATE) END) AS open_days,
           max(ts) AS last_signal
    FROM sig GROUP BY recipient_id
),
newest AS (SELECT max(ts) AS ts FROM events),
scored AS (
    SELECT p.*, p.opens + 3 * p.clicks + 2 * greatest(p.open_days - 1, 0)
           + 5.0 * power(0.5, (date_part('epoch', n.ts) - date_part('epoch', p.last_signal)) / 86400.0 / 7.0) AS score
    FROM per p CROSS JOIN newest n
)
SELECT rank() OVER (ORDER BY score DESC) AS rank, recipient_id, opens, clicks, open_days, last_signal, score
FROM scored
ORDER BY rank, recipient_id
