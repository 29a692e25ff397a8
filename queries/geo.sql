-- Countries and cities of human opens and clicks per campaign; image-proxy and MPP hits locate the proxy, not the reader, so they are left out and counted.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
WITH hits AS (
    SELECT * FROM events WHERE CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR campaign_id = $campaign)
),
human AS (
    SELECT campaign_id, coalesce(country, 'unknown') AS country, coalesce(city, 'unknown') AS city,
           sum(CASE WHEN kind = 'open' THEN 1 ELSE 0 END) AS opens,
           sum(CASE WHEN kind = 'click' THEN 1 ELSE 0 END) AS clicks
    FROM hits WHERE class = 'human'
    GROUP BY 1, 2, 3
),
left_out AS (
    SELECT campaign_id, count(*) AS n FROM hits WHERE class IN ('image_proxy', 'apple_mpp') GROUP BY 1
)
SELECT h.campaign_id, h.country, h.city, h.opens, h.clicks, coalesce(l.n, 0) AS proxy_hits_left_out
FROM human h LEFT JOIN left_out l ON l.campaign_id = h.campaign_id
ORDER BY h.campaign_id, h.opens + h.clicks DESC, h.country, h.city
