"""The plan's ``alignment`` block: the index's weights and the questionnaire's statements.

Every key is optional. Weights default to :data:`DEFAULT_WEIGHTS`; the questionnaire defaults to
the packaged instrument (``missionline/alignment/instrument.yaml``). Unknown component ids,
negative weights and repeated statement ids are reported by :mod:`.rules_alignment_index`.
"""

from __future__ import annotations

from pydantic import Field

from missionline.plan.models import Id, PlanModel

# The index's components and their default weights (points out of 100). The registry in
# missionline.alignment.index scores exactly these ids; a test keeps the two in step.
DEFAULT_WEIGHTS: dict[str, float] = {
    "definition": 10.0,
    "conformance": 15.0,
    "handoff": 15.0,
    "feedback_loop": 10.0,
    "mission_linkage": 10.0,
    "target_coherence": 10.0,
    "shared_outcomes": 15.0,
    "perception": 15.0,
}
DEFAULT_COMPARE = ("marketing", "sales")


class SurveyStatement(PlanModel):
    """One statement of the alignment questionnaire, answered on a 1 (disagree) to 5 scale."""

    id: Id
    text: str
    pillar: str = Field(
        description="What it probes: message, process, measurement, testing or mission "
        "(the default instrument's pillars), or a pillar of your own."
    )


class AlignmentSpec(PlanModel):
    """How alignment is measured: component weights, the functions compared, the questionnaire."""

    weights: dict[str, float] = Field(
        default_factory=dict,
        description="Weight per index component id (definition, conformance, handoff, "
        "feedback_loop, mission_linkage, target_coherence, shared_outcomes, perception); "
        "components not listed keep their default weight, 0 leaves one out.",
    )
    compare: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COMPARE),
        min_length=2,
        max_length=2,
        description="The two function ids whose questionnaire answers are compared (the gap "
        "is the first minus the second).",
    )
    survey: list[SurveyStatement] | None = Field(
        None, description="A questionnaire replacing the default instrument."
    )

    def weight(self, component: str) -> float:
        """The weight of one component: the plan's, else the default."""
        return self.weights.get(component, DEFAULT_WEIGHTS[component])
