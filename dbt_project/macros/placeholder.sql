{#-
  `column` (already trimmed), or NULL when it is a placeholder: one of var('placeholders') (the
  identity standardiser's list, identity.standardise.placeholders: "n/a", "unknown", "none", "-",
  ... plus CDP_IDENTITY_PLACEHOLDERS), compared lower-cased as written and with punctuation
  turned into spaces ("N.A." is "n a"), or a value with no letter or digit at all ("-", "?", "--").
  For free text that means "no value", such as a CSV list's company_name: "N/A" is no company.
-#}
{% macro null_if_placeholder(column) -%}
    case
        when
            lower({{ column }}) in ({{ placeholder_list() }})
            or trim(regexp_replace(lower({{ column }}), '[^\p{L}\p{N}]+', ' ', 'g'))
            in ('', {{ placeholder_list() }})
            then null
        else {{ column }}
    end
{%- endmacro %}

{% macro placeholder_list() -%}
    {%- for value in var('placeholders') -%}
        '{{ value | lower | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
