{#-
  Marketing channel of a landing page from its UTM parameters and referrer, following the usual
  default channel grouping: paid search, paid social, social, email, display, affiliate,
  other campaign, organic search, referral, direct. Without UTM tags the referrer's host decides:
  a webmail host is email, a social network's host is social, a search engine's host is organic
  search, any other host a referral (the host, not the whole URL: a page named /google.html on
  another site is a referral). As in GA4's default channel grouping, a social network's source with
  a paid medium (GA4's ^(.*cp.*|ppc|retargeting|paid.*)$: cpc, ppc, cpm, paid...) is paid social, so
  utm_source=facebook&utm_medium=cpc is not paid search.
-#}
{% macro classify_channel(source, medium, referrer) -%}
    {%- set host = "^([a-z][a-z0-9+.-]*://)?([a-z0-9-]+\\.)*" -%}
    {%- set end = "\\.?(:[0-9]+)?([/?#]|$)" -%}
    {%- set social_source = "lower(" ~ source ~ ") in ('facebook', 'fb', 'instagram', 'ig', 'twitter', 'x', "
        ~ "'linkedin', 'tiktok', 'pinterest', 'reddit')" -%}
    case
        when lower({{ medium }}) in ('paid_social', 'paidsocial')
            or ({{ social_source }} and regexp_full_match(lower({{ medium }}), '.*cp.*|ppc|retargeting|paid.*'))
            then 'paid_social'
        when lower({{ medium }}) in ('cpc', 'ppc', 'paid', 'paidsearch', 'paid_search') then 'paid_search'
        when lower({{ medium }}) = 'social' or {{ social_source }} then 'social'
        when lower({{ medium }}) in ('email', 'e-mail', 'newsletter') then 'email'
        when lower({{ medium }}) in ('display', 'banner', 'cpm') then 'display'
        when lower({{ medium }}) = 'affiliate' then 'affiliate'
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
