"""Inputs against outputs (``Workspace.inputs()``, by channel) in vectorised pandas.

The definitions of ``sql_inputs``: entries in their person's channel (an opportunity's through
its ``person_id``; account stages have none), spend in its own channel or its initiative's,
touches in their person's channel; the null channel is a group of its own without ratios.
"""

from __future__ import annotations

import pandas as pd

from benchmarks.sql_plan import OPPORTUNITY_PATH, PATH, PERSON_PATH


def inputs_pandas(
    tables: dict[str, pd.DataFrame], initiative_channels: dict[str, str]
) -> pd.DataFrame:
    """Entries, spend, touches and sales activities per channel and stage, with the ratios."""
    spend, touches, events = tables["spend"], tables["touches"], tables["stage_events"]
    people = tables["people"][["person_id", "source_channel"]]
    channel_of = people.set_index("person_id")["source_channel"]

    channel = spend["channel"].fillna(spend["initiative_id"].map(initiative_channels))
    spent = spend.groupby(channel.rename("channel"), dropna=False)["amount"].sum().rename("spend")

    function = touches["function"]
    touched = (
        pd.DataFrame(
            {
                "channel": touches["person_id"].map(channel_of),
                "touches": function == "marketing",
                "sales_activities": function == "sales",
            }
        )
        .groupby("channel", dropna=False)[["touches", "sales_activities"]]
        .sum()
    )

    entries = events.loc[events["stage"].isin(PATH), ["stage", "record_id"]].drop_duplicates()
    person = entries["record_id"].where(entries["stage"].isin(PERSON_PATH))
    opportunity_person = tables["opportunities"].set_index("opportunity_id")["person_id"]
    in_opportunity = entries["stage"].isin(OPPORTUNITY_PATH)
    person = person.fillna(entries["record_id"].where(in_opportunity).map(opportunity_person))
    entered = (
        entries.assign(channel=person.map(channel_of))
        .groupby(["channel", "stage"], dropna=False)
        .size()
        .rename("entries")
    )

    channels = pd.Index(
        pd.concat(
            [s.index.get_level_values("channel").to_series() for s in (spent, touched, entered)]
        ).unique(),
        name="channel",
    )
    grid = pd.MultiIndex.from_product([channels, list(PATH)], names=["channel", "stage"])
    out = pd.DataFrame(index=grid).join(entered).reset_index()
    out = out.merge(spent.reset_index(), on="channel", how="left")
    out = out.merge(touched.reset_index(), on="channel", how="left")
    for column in ("entries", "touches", "sales_activities"):
        out[column] = out[column].fillna(0).astype("int64")
    out["spend"] = out["spend"].fillna(0.0)
    per_entry = out["entries"].where((out["entries"] > 0) & out["channel"].notna())
    out["cost_per_entry"] = out["spend"] / per_entry
    out["touches_per_entry"] = out["touches"] / per_entry
    out["sales_activities_per_entry"] = out["sales_activities"] / per_entry
    return out
