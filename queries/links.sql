-- Per link: human clicks, unique human clickers, share of the campaign's human clicks, and bot clicks (scanners and crawlers).
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
--
-- unique_clickers is null for campaigns tracked in aggregate (mint
-- --tracking aggregate): their tokens stand for no one in particular.
WITH clicks AS (
    SELECT * FROM events WHERE kind = 'click' AND CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
      AND ($campaign = '' OR campaign_id = $campaign)
),
per_link AS (
    SELECT l.campaign_id, l.link_id, l.url,
           count(CASE WHEN c.class = 'human' THEN 1 END) AS human_clicks,
           CASE WHEN bool_or(c.recipient_id = '*') THEN NULL
                ELSE count(DISTINCT CASE WHEN c.class = 'human' THEN c.recipient_id END) END AS unique_clickers,
           count(CASE WHEN c.class IN ('scanner', 'crawler') THEN 1 END) AS bot_clicks
    FROM links l
    LEFT JOIN clicks c ON c.link_id = l.link_id
    WHERE $campaign = '' OR l.campaign_id = $campaign
    GROUP BY l.campaign_id, l.link_id, l.url
)
SELECT campaign_id, link_id, url, human_clicks, unique_clickers,
       coalesce(CAST(human_clicks AS DOUBLE) / nullif(sum(human_clicks) OVER (PARTITION BY campaign_id), 0), 0.0) AS click_share,
       bot_clicks
FROM per_link
ORDER BY campaign_id, link_id
