{#
  Counts over nested trailing windows must be non-negative, non-null and grow with the window:
  0 <= <prefix>_<w1>d <= <prefix>_<w2>d <= ... for each prefix. One query for all the columns.
#}
{% test nested_windows(model, prefixes, windows) %}
select *
from {{ model }}
where false
{%- for p in prefixes %}
    or {{ p }}_{{ windows[0] }}d is null or {{ p }}_{{ windows[0] }}d < 0
    {%- for w in windows[1:] %}
    or {{ p }}_{{ w }}d is null or {{ p }}_{{ w }}d < {{ p }}_{{ windows[loop.index0] }}d
    {%- endfor %}
{%- endfor %}
{% endtest %}
