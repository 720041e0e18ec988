{#-
  Marketing channel of a landing page from its UTM parameters and referrer, following GA4's default
  channel grouping for the channels kept here (in its order): paid search, paid social, display,
  paid other, social, organic search, email, affiliate, referral, other campaign (GA4's
  Unassigned for a tagged visit), then, without UTM tags, the referrer. A paid medium (GA4's
  ^(.*cp.*|ppc|retargeting|paid.*)$: cpc, ppc, cpm, paid_search, ...) is paid search only from a
  search engine's source and paid social only from a social network's (utm_source=facebook&
  utm_medium=cpc is not paid search; a source may name the site instead: google.com, m.facebook.com,
  t.co); from any other source it is display (display, banner, cpm,
  ...) or paid other. A medium of referral, app or link is a referral, not an other campaign.
  utm_medium=paid_social is paid social whatever the source (this project's own campaigns tag it
  so). Without UTM tags the referrer's host decides: a webmail host is email, a social network's
  host is social, a search engine's host is organic search, any other host a referral (the host,
  not the whole URL: a page named /google.html on another site is a referral).
-#}
{% macro classify_channel(source, medium, referrer) -%}
    {%- set host = "^([a-z][a-z0-9+.-]*://)?([a-z0-9-]+\\.)*" -%}
    {%- set end = "\\.?(:[0-9]+)?([/?#]|$)" -%}
    {#- a source is the engine's or network's name, or its site's host (google.com, m.facebook.com, t.co) -#}
    {%- set site = "(\\.[a-z]{2,3}){0,2}" -%}
    {%- set social_source = "regexp_full_match(lower(trim(" ~ source ~ ")), '([a-z0-9-]+\\.)*(facebook|fb|instagram|ig|"
        ~ "twitter|x|linkedin|tiktok|pinterest|reddit)" ~ site ~ "|t\\.co|lnkd\\.in')" -%}
    {%- set search_source = "regexp_full_match(lower(trim(" ~ source ~ ")), '([a-z0-9-]+\\.)*(google|bing|duckduckgo|"
        ~ "yahoo|ecosia|baidu|yandex)" ~ site ~ "')" -%}
    {%- set paid_medium = "regexp_full_match(lower(" ~ medium ~ "), '.*cp.*|ppc|retargeting|paid.*')" -%}
    case
        when lower({{ medium }}) in ('paid_social', 'paidsocial') then 'paid_social'
        when {{ search_source }} and {{ paid_medium }} then 'paid_search'
        when {{ social_source }} and {{ paid_medium }} then 'paid_social'
        when lower({{ medium }}) in ('display', 'banner', 'expandable', 'interstitial', 'cpm') then 'display'
        when {{ paid_medium }} then 'paid_other'
        when lower({{ medium }}) in ('social', 'social-network', 'social-media', 'sm', 'social network', 'social media')
            or {{ social_source }}
            then 'social'
        when lower({{ medium }}) = 'organic' or {{ search_source }} then 'organic_search'
        when lower({{ medium }}) in ('email', 'e-mail', 'e_mail', 'e mail', 'newsletter')
            or lower({{ source }}) in ('email', 'e-mail', 'e_mail', 'e mail')
            then 'email'
        when lower({{ medium }}) = 'affiliate' then 'affiliate'
        when lower({{ medium }}) in ('referral', 'app', 'link') then 'referral'
        when {{ medium }} is not null or {{ source }} is not null then 'other_campaign'
        when regexp_matches(
            lower(trim({{ referrer }})),
            '{{ host }}(mail\.google\.com|outlook\.(live|office|office365)\.com|mail\.yahoo\.com|mail\.aol\.com){{ end }}'
        ) then 'email'
        when regexp_matches(
            lower(trim({{ referrer }})),
            '{{ host }}(facebook\.com|fb\.com|instagram\.com|t\.co|twitter\.com|x\.com|linkedin\.com|lnkd\.in|tiktok\.com|pinterest\.com|reddit\.com|youtube\.com){{ end }}'
        ) then 'social'
        when regexp_matches(
            lower(trim({{ referrer }})), '{{ host }}(google|bing|duckduckgo|yahoo|ecosia|baidu|yandex)(\.[a-z]{2,3}){1,2}{{ end }}'
        ) then 'organic_search'
        when {{ referrer }} is not null and trim({{ referrer }}) != '' then 'referral'
        else 'direct'
    end
{%- endmacro %}
