{% macro web_id(column) -%}
    {#- A web user/anonymous id trimmed, or null when empty or a stand-in for a missing id (an SDK or
        template writing a JavaScript value as text): strangers share those, so they must not make
        one visitor or one customer. The same list as identity.schema.PLACEHOLDER_WEB_IDS. -#}
    case
        when (
            length({{ column }}) <= 24
            or starts_with({{ column }}, ' ')
            or ends_with({{ column }}, ' ')
        )
            and lower(trim({{ column }})) in (
                'undefined', 'null', 'none', 'nil', 'nan', 'unknown', 'anonymous', 'n/a', 'na', '0', '-1',
                '[object object]', 'false', 'true', '-', '?'
            )
            then null
        else nullif(trim({{ column }}), '')
    end
{%- endmacro %}
