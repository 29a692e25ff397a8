-- Recipients with no human signal (an open or a click) in their last N campaigns (param n, default 3): the list-hygiene export.
-- param n=3
--
-- Built on the view `tiers`: a campaign counts as active for a recipient
-- when their tier in it is engaged or proxied (an image-proxy open is a
-- person opening); machine_only (MPP prefetches, scanners, crawlers) and
-- silent do not. Only recipients who received at least N tracked campaigns
-- are listed; campaigns they opted out of do not count.
-- `machine_only_campaigns` says how many of those N saw machines only: an
-- Apple Mail user whose every open is a prefetch is inactive here, not active.
WITH received AS (
    SELECT recipient_id, campaign_id, sent_at, tier,
           row_number() OVER (PARTITION BY recipient_id ORDER BY sent_at DESC, campaign_id DESC) AS k
    FROM tiers
    WHERE tier <> 'untracked'
),
last_n AS (SELECT * FROM received WHERE k <= $n)
SELECT recipient_id, count(*) AS campaigns, max(sent_at) AS last_sent_at,
       count(CASE WHEN tier = 'machine_only' THEN 1 END) AS machine_only_campaigns
FROM last_n
GROUP BY recipient_id
HAVING count(*) = $n AND count(CASE WHEN tier IN ('engaged', 'proxied') THEN 1 END) = 0
ORDER BY recipient_id
