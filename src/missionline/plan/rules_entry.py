"""Rules about entry rules: each must parse and name columns of the records entering the stage."""

from __future__ import annotations

from collections.abc import Iterator

from missionline.data.schema import tables_with_fields
from missionline.plan.entry_columns import rule_columns
from missionline.plan.expressions import ExpressionError, check_rule, parse_rule
from missionline.plan.models import Plan
from missionline.plan.rules import Finding, PlanContext, Rule, register
from missionline.yaml_source import YamlSource


@register
class InvalidEntryRule(Rule):
    """A stage's entry rule does not parse, names an unknown column, or mixes types."""

    id = "invalid-entry-rule"
    hint = "See docs/plan.md, 'Entry rules', for the expression language."

    def check(self, plan: Plan, source: YamlSource, context: PlanContext) -> Iterator[Finding]:
        schema = tables_with_fields(plan.fields)  # unknown tables: reported by another rule
        for i, stage in enumerate(plan.lifecycle.stages):
            if not stage.entry_rule:
                continue
            try:
                errors = check_rule(
                    parse_rule(stage.entry_rule), rule_columns(stage.record_type, schema)
                )
            except ExpressionError as exc:
                errors = [exc]
            path = ("lifecycle", "stages", i, "entry_rule")
            line, column = source.locate_value(path)
            for error in errors:
                message = (
                    f"stage '{stage.id}' entry_rule: {error.message}\n"
                    f"{error.caret(stage.entry_rule)}"
                )
                text = f"{message}\n{self.hint}"
                col = column + error.offset if column is not None else None
                yield Finding(self.id, self.severity, text, stage.id, source.file, line, col)
