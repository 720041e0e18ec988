{% macro web_visitor_id(anonymous_id, user_record_id, web_event_id) -%}
    {#- Segment sessions are per device, i.e. per anonymousId; a message without one belongs to its
        user, and a message with neither is a visitor of its own. One definition, used by the
        sessionisation and by the incremental marts that pick which visitors to rebuild. -#}
    coalesce({{ anonymous_id }}, {{ user_record_id }}, 'message:' || {{ web_event_id }})
{%- endmacro %}
