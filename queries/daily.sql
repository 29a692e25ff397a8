-- Hits per day: human opens, proxy opens, MPP opens, human clicks and bot hits, so trends show what was counted and what was filtered.
-- param campaign=
-- param since=0001-01-01
-- param until=9999-12-31
SELECT CAST(ts AS DATE) AS day,
       count(CASE WHEN kind = 'open' AND class = 'human' THEN 1 END) AS human_opens,
       count(CASE WHEN kind = 'open' AND class = 'image_proxy' THEN 1 END) AS proxy_opens,
       count(CASE WHEN kind = 'open' AND class = 'apple_mpp' THEN 1 END) AS mpp_opens,
       count(CASE WHEN kind = 'click' AND class = 'human' THEN 1 END) AS human_clicks,
       count(CASE WHEN class IN ('scanner', 'crawler') THEN 1 END) AS bot_hits
FROM events
WHERE CAST(ts AS DATE) BETWEEN CAST($since AS DATE) AND CAST($until AS DATE)
  AND ($campaign = '' OR campaign_id = $campaign)
GROUP BY 1
ORDER BY 1
