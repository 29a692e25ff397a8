-- Per campaign and variant: how long people kept the message open (glance under 2 s, skim 2 to 8 s, read over 8 s), the median, and why other opens have no read time.
-- param campaign=
--
-- Read times come from the read-time image (mint --read-time): a mail
-- client keeps downloading it while the message is open. Only hits classed
-- human are measured; shares are of the measured read-time hits.
--   human_opens          opens of the pixel by people's own clients
--   measured             read-time hits with a read time
--   glance/skim/read_share  under 2 s, 2 to 8 s, over 8 s
--   median_read_seconds  median of the measured read times
-- Opens without a read time, and why:
--   blocked      human opens with no read-time hit (images stopped after the
--                pixel, the message closed before the image was asked for,
--                or no read-time image in the message)
--   whole        read-time hits by people's clients that took the image
--                whole at once (from a cache): nothing measured
--   proxy_opens  opens through a webmail image proxy, which fetches images
--                once, whole, for everyone: no read time exists
--   mpp_opens    Apple Mail Privacy Protection prefetches: no reader at all
SELECT campaign_id,
       coalesce(variant, '') AS variant,
       count(CASE WHEN kind = 'open' AND class = 'human' THEN 1 END) AS human_opens,
       count(CASE WHEN kind = 'read' AND class = 'human' AND read_seconds IS NOT NULL THEN 1 END) AS measured,
       CAST(count(CASE WHEN kind = 'read' AND class = 'human' AND read_seconds < 2 THEN 1 END) AS DOUBLE)
           / nullif(count(CASE WHEN kind = 'read' AND class = 'human' AND read_seconds IS NOT NULL THEN 1 END), 0) AS glance_share,
       CAST(count(CASE WHEN kind = 'read' AND class = 'human' AND read_seconds >= 2 AND read_seconds <= 8 THEN 1 END) AS DOUBLE)
           / nullif(count(CASE WHEN kind = 'read' AND class = 'human' AND read_seconds IS NOT NULL THEN 1 END), 0) AS skim_share,
       CAST(count(CASE WHEN kind = 'read' AND class = 'human' AND read_seconds > 8 THEN 1 END) AS DOUBLE)
           / nullif(count(CASE WHEN kind = 'read' AND class = 'human' AND read_seconds IS NOT NULL THEN 1 END), 0) AS read_share,
       median(CASE WHEN kind = 'read' AND class = 'human' THEN read_seconds END) AS median_read_seconds,
       greatest(count(CASE WHEN kind = 'open' AND class = 'human' THEN 1 END)
                - count(CASE WHEN kind = 'read' AND class = 'human' THEN 1 END), 0) AS blocked,
       count(CASE WHEN kind = 'read' AND class = 'human' AND read_seconds IS NULL THEN 1 END) AS whole,
       count(CASE WHEN kind = 'open' AND class = 'image_proxy' THEN 1 END) AS proxy_opens,
       count(CASE WHEN kind = 'open' AND class = 'apple_mpp' THEN 1 END) AS mpp_opens
FROM events
WHERE $campaign = '' OR campaign_id = $campaign
GROUP BY campaign_id, coalesce(variant, '')
ORDER BY campaign_id, variant
