{#-
  `column` without whitespace or zero-width characters at either end, NULL when nothing else is
  left: what identity/standardise.py strips (`_EDGE_JUNK`: every character Python's str.isspace
  accepts, and the zero-width space, non-joiner, joiner, word joiner, byte-order mark and
  Mongolian vowel separator). DuckDB's `trim` removes spaces only, so a name pasted with a tab,
  a non-breaking space or a zero-width space around it reached dim_customers and the exports
  like that. tests/dbt/test_dbt_customer_360.py checks the class against the Python constant.
  The regex looks at the two ends first (most values have nothing to strip), as standardise.py does.
-#}
{% macro edge_junk_class() -%}
    [\x{09}-\x{0D}\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{180E}\x{2000}-\x{200D}\x{2028}\x{2029}\x{202F}\x{205F}\x{2060}\x{3000}\x{FEFF}]
{%- endmacro %}

{% macro strip_edges(column) -%}
    nullif(
        case
            when regexp_matches({{ column }}, '^{{ edge_junk_class() }}|{{ edge_junk_class() }}$')
                then regexp_replace({{ column }}, '^{{ edge_junk_class() }}+|{{ edge_junk_class() }}+$', '', 'g')
            else {{ column }}
        end,
        ''
    )
{%- endmacro %}
