-- Email client, device and OS shares among human opens, and the share of opens hidden behind image proxies and Apple MPP, per campaign.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
--
-- dimension: client, device or os (shares among human open hits), or hidden
-- (image_proxy and apple_mpp open hits as a share of all open hits).
WITH opens AS (
    SELECT * FROM events WHERE kind = 'open' AND CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR campaign_id = $campaign)
),
human AS (
    SELECT campaign_id, coalesce(ua_name, 'unknown') AS client, coalesce(ua_category, 'unknown') AS device,
           coalesce(os, 'unknown') AS os
    FROM opens WHERE class = 'human'
),
dims AS (
    SELECT campaign_id, 'client' AS dimension, client AS value FROM human
    UNION ALL SELECT campaign_id, 'device' AS dimension, device AS value FROM human
    UNION ALL SELECT campaign_id, 'os' AS dimension, os AS value FROM human
),
shares AS (
    SELECT campaign_id, dimension, value, count(*) AS opens FROM dims GROUP BY 1, 2, 3
),
-- Hidden shares divide by all open hits of the campaign with a window, not a
-- join: Ballista 55 repeats the rows of a joined branch inside a UNION ALL.
by_class AS (
    SELECT campaign_id, class, count(*) AS opens,
           CAST(count(*) AS DOUBLE) / sum(count(*)) OVER (PARTITION BY campaign_id) AS share
    FROM opens GROUP BY 1, 2
),
hidden AS (
    SELECT campaign_id, 'hidden' AS dimension, class AS value, opens, share
    FROM by_class WHERE class IN ('image_proxy', 'apple_mpp')
)
SELECT campaign_id, dimension, value, opens, share FROM (
    SELECT s.campaign_id, s.dimension, s.value, s.opens,
           CAST(s.opens AS DOUBLE) / sum(s.opens) OVER (PARTITION BY s.campaign_id, s.dimension) AS share
    FROM shares s
    UNION ALL
    SELECT campaign_id, dimension, value, opens, share FROM hidden
) x
ORDER BY campaign_id, dimension, opens DESC, value
