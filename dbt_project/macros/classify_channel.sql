{#-
  Marketing channel of a landing page from its UTM parameters and referrer, following the usual
  default channel grouping: paid search, paid social, social, email, display, affiliate,
  other campaign, organic search, referral, direct.
-#}
{% macro classify_channel(source, medium, referrer) -%}
    case
        when lower({{ medium }}) in ('cpc', 'ppc', 'paid', 'paidsearch', 'paid_search') then 'paid_search'
        when lower({{ medium }}) in ('paid_social', 'paidsocial') then 'paid_social'
        when lower({{ medium }}) = 'social'
            or lower({{ source }}) in ('facebook', 'instagram', 'twitter', 'x', 'linkedin', 'tiktok')
            then 'social'
        when lower({{ medium }}) in ('email', 'e-mail', 'newsletter') then 'email'
        when lower({{ medium }}) in ('display', 'banner', 'cpm') then 'display'
        when lower({{ medium }}) = 'affiliate' then 'affiliate'
        when {{ medium }} is not null or {{ source }} is not null then 'other_campaign'
        when regexp_matches(lower({{ referrer }}), '(google|bing|duckduckgo|yahoo|ecosia)\.') then 'organic_search'
        when {{ referrer }} is not null and {{ referrer }} != '' then 'referral'
        else 'direct'
    end
{%- endmacro %}
