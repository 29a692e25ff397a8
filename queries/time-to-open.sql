-- Delay from sending to each recipient's first open (human and image-proxy opens), per campaign, in buckets from under a minute to over three days.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
--
-- Campaigns tracked in aggregate (mint --tracking aggregate) have no
-- per-person first open and are left out.
WITH first_open AS (
    SELECT campaign_id, recipient_id, min(seconds_since_sent) AS secs
    FROM events
    WHERE kind = 'open' AND class IN ('human', 'image_proxy') AND recipient_id <> '*'
      AND CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR campaign_id = $campaign)
    GROUP BY campaign_id, recipient_id
),
bucketed AS (
    SELECT campaign_id,
           CASE WHEN secs < 60 THEN 1 WHEN secs < 300 THEN 2 WHEN secs < 900 THEN 3
                WHEN secs < 3600 THEN 4 WHEN secs < 10800 THEN 5 WHEN secs < 43200 THEN 6
                WHEN secs < 86400 THEN 7 WHEN secs < 259200 THEN 8 ELSE 9 END AS bucket_order
    FROM first_open
),
buckets AS (
    SELECT * FROM (VALUES (1, '<1m'), (2, '1-5m'), (3, '5-15m'), (4, '15-60m'), (5, '1-3h'),
                          (6, '3-12h'), (7, '12-24h'), (8, '1-3d'), (9, '>3d')) AS b(bucket_order, bucket)
),
campaigns AS (SELECT DISTINCT campaign_id FROM first_open),
counted AS (
    SELECT c.campaign_id, b.bucket_order, b.bucket, count(x.bucket_order) AS recipients
    FROM campaigns c
    CROSS JOIN buckets b
    LEFT JOIN bucketed x ON x.campaign_id = c.campaign_id AND x.bucket_order = b.bucket_order
    GROUP BY c.campaign_id, b.bucket_order, b.bucket
)
SELECT campaign_id, bucket_order, bucket, recipients,
       CAST(recipients AS DOUBLE) / sum(recipients) OVER (PARTITION BY campaign_id) AS share
FROM counted
ORDER BY campaign_id, bucket_order + 0  -- "+ 0": DataFusion 55 drops a plain bucket_order from this sort
