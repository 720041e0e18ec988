{#- A web message's consent flag for one purpose (Segment traits: consent.<purpose>): true or false,
    NULL when not sent or not a boolean. stg_web__events' has_consent_* columns and
    int_consent_statements_unioned both use it; the latter parses the traits of the identify events
    of the records it rebuilds only, where reading the view's columns would parse every one. -#}
{% macro web_consent(traits, purpose) -%}
    try_cast({{ traits }} -> 'consent' ->> '{{ purpose }}' as boolean)
{%- endmacro %}
