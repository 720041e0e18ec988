{#-
  Rank of a source system in var('golden_record_source_priority') (1 = most trusted);
  systems not listed rank after every listed one.
-#}
{% macro source_priority(column_name) -%}
    {%- set systems = var('golden_record_source_priority') -%}
    case {{ column_name }}
    {%- for system in systems %}
        when '{{ system }}' then {{ loop.index }}
    {%- endfor %}
        else {{ systems | length + 1 }}
    end
{%- endmacro %}
