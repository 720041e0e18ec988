{% macro json_amount(value) -%}
    {#- A JSON amount as decimal(18, 4): a JSON number, or a string holding a plain decimal number
        (optional sign, digits, optional decimal point: '29.97', '-5'); NULL for anything else and
        when it does not fit. DuckDB's own cast also reads '1_000' as 1000, '1e3' as 1000 and
        ' 12 ' as 12, forms a source does not send as amounts: such a value must count as a
        missing amount (assert_completed_orders_have_an_amount), never as a reinterpreted one. -#}
    try_cast(
        case
            when json_type({{ value }}) in ('BIGINT', 'UBIGINT', 'DOUBLE') then {{ value }} ->> '$'
            when json_type({{ value }}) = 'VARCHAR'
                and regexp_full_match({{ value }} ->> '$', '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)')
                then {{ value }} ->> '$'
        end as decimal(18, 4)
    )
{%- endmacro %}
