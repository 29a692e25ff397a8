-- Every recipient of a campaign with a tier and its evidence: engaged (a human click or a direct open), proxied (opens only through a webmail proxy), machine_only (only MPP, scanners, crawlers), silent, or untracked (opted out).
-- param campaign=
--
-- The tiers are the view `tiers` (queries/views/tiers.sql), which the
-- inactive and leads reports read too.
SELECT campaign_id, recipient_id, tier, human_opens, proxy_opens, human_clicks, machine_hits, first_signal
FROM tiers
WHERE $campaign = '' OR campaign_id = $campaign
ORDER BY campaign_id, recipient_id
