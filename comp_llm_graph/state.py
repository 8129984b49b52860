"""The graph state: what each stage reads and writes."""

from __future__ import annotations

from typing import Annotated, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import NotRequired, TypedDict

__all__ = [
    "Aggregation",
    "Branch",
    "Candidate",
    "InputState",
    "OutputState",
    "PlanAttempt",
    "Review",
    "Planning",
    "State",
    "SubAnswer",
    "SubQuery",
]

PlanStatus = Literal["valid", "repaired", "replanned", "fallback", "enumerated", "whole",
                     "monolithic", "react"]


class Candidate(TypedDict):
    """One expert considered for a sub-query."""

    expert: str
    """Expert name."""
    score: float
    """Cosine similarity between the sub-query and the expert's capability texts."""


class SubQuery(TypedDict):
    """One node of the plan."""

    id: str
    """Identifier such as `q1`; other sub-queries reference it as `{q1}` or `#1`."""
    question: str
    """The sub-question, possibly with references to earlier answers."""
    depends_on: list[str]
    """Ids whose answers this sub-query needs."""
    expert: str
    """The expert it was routed to."""
    score: float
    """Similarity of the chosen expert (0 when the fallback was used below threshold)."""
    candidates: list[Candidate]
    """The best experts with their similarity scores, best first."""
    routed_by: Literal["similarity", "learned", "examples", "fallback", "mode", "review"]
    """Why this expert: the router that chose it (similarity to the cards, the learned router,
    nearest labelled examples), a below-threshold fallback, fixed by the mode, or named by the
    plan's reviewer."""
    label: NotRequired[str]
    """How the query named this part (`Part 1`), when the user enumerated the parts."""
    route_error: NotRequired[str]
    """Why routing failed, when it did and the sub-query went to the fallback expert."""
    context: NotRequired[Literal["shared"]]
    """What the expert receives besides its question and earlier answers: `shared` = the
    query's material (`state["shared_context"]`)."""


class SubAnswer(TypedDict):
    """What one executor branch produced."""

    id: str
    """The sub-query id."""
    question: str
    """The question as sent to the expert (references substituted)."""
    expert: str
    """The expert that answered."""
    answer: str
    """The expert's answer ('' when it failed)."""
    error: str | None
    """Why the expert failed, or None."""
    started_at: float
    """Unix time the branch started."""
    finished_at: float
    """Unix time the branch finished."""
    output_tokens: NotRequired[int]
    """Tokens the expert generated, when its backend reports them."""
    skipped: NotRequired[bool]
    """True when it was not run because an input failed (`error` says which)."""


class PlanAttempt(TypedDict):
    """One planner call and what validation made of it."""

    raw: str
    """The planner's output as generated."""
    problems: list[str]
    """What was wrong with it."""
    repairs: list[str]
    """What was repaired, each with the problem it fixed."""
    accepted: bool
    """Whether the (repaired) plan was used."""
    output_tokens: NotRequired[int]
    """Tokens the planner generated for this attempt, when its model reports them."""


class Review(TypedDict):
    """The plan's review: approved as planned, or edited (and how the edit was validated)."""

    edited: bool
    """The reviewer changed the plan."""
    repairs: list[str]
    """What validation repaired in the edited plan."""
    rejected: list[list[str]]
    """The problems of each edit that failed validation and was sent back to the reviewer."""
    seconds: float
    """From the plan's interrupt to the reviewer's answer (including the reviewer's time)."""


class Planning(TypedDict):
    """How the plan came about; never silent about repairs or fallbacks."""

    status: PlanStatus
    """valid: used as generated; repaired: fixed unambiguously; replanned: the planner was asked
    again; fallback: the whole query ran as one sub-query; enumerated: the query numbered its
    parts, each became a sub-query (no planner call); monolithic: no planning (mode)."""
    attempts: list[PlanAttempt]
    """Each planner call in order."""
    early_started: NotRequired[list[str]]
    """Sub-queries whose experts started while the planner was still writing and whose early
    answers the plan kept (`planning/early_starts.py`)."""
    reviewed: NotRequired[Review]
    """What the plan's reviewer did (`Context.review_plan`, `nodes/review.py`)."""
    unplanned: NotRequired[list[str]]
    """Enumerated parts past `Context.max_subqueries`, as the user wrote them (label and text):
    not run, named in the final answer, and the run is `partial`."""
    condensed: NotRequired[dict[str, str]]
    """A follow-up made standalone from the earlier turns: `asked` (as written) and `referent`
    (what its referring words were taken to mean; `comp_llm_graph.planning.conversation`)."""


class Aggregation(TypedDict):
    """How the final answer was made, and what was checked of it."""

    method: Literal["llm", "compose", "fallback", "passthrough"]
    """llm: the aggregator wrote it; compose: the end points' answers as labelled lines (every
    part independent, `Context.aggregate`); fallback: composed after the aggregator failed or
    returned nothing; passthrough: a single sub-query answered the whole query."""
    reason: str | None
    """Why the fallback was used, or None."""
    checked: NotRequired[list[str]]
    """The end points (sub-queries nothing depends on) checked in the final answer."""
    added: NotRequired[list[str]]
    """End points the aggregator left out, added to the final answer labelled (`coverage.py`)."""
    failed: NotRequired[list[str]]
    """End points without an answer; the final answer names them."""
    partial: NotRequired[bool]
    """Some sub-query failed or was skipped, or a part was past the sub-query limit: the final
    answer does not answer everything asked (the parts it lacks are named in it)."""
    unplanned: NotRequired[list[str]]
    """The enumerated parts past the sub-query limit (`Planning.unplanned`), named in the answer."""
    output_tokens: NotRequired[int]
    """Tokens the aggregator generated, when its model reports them (absent for passthrough)."""


def merge_dicts(left: dict, right: dict) -> dict:
    """Reducer: merge branch writes into one mapping."""
    return {**left, **right}


class InputState(TypedDict, total=False):
    """What a caller passes in: a `query`, or chat `messages` ending with the user's turn."""

    query: str
    """The user's question."""
    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation (LangChain's chat convention): the last human message is the question;
    the graph appends the final answer as an `AIMessage`. A `query` is appended as a human
    message, so a thread keeps the conversation either way."""


class OutputState(InputState, total=False):
    """What a run returns (`output_schema`): the conversation, the answer and how it was made."""

    standalone_query: str
    """The question as planned and answered: `query` (the user's own words, kept as typed) with
    its referring words replaced from the earlier turns (`planning.condensed` says how), or
    `query` itself when nothing was rewritten."""
    mode: str
    """comp, monolithic, sequential or react."""
    run_started: float
    """Unix time the run started."""
    plan: list[SubQuery]
    """The validated sub-query DAG, in a topological order."""
    planning: Planning
    """How the plan came about."""
    shared_context: str
    """What the query carries besides its questions (a passage, documents, givens), given to
    every sub-query marked `context: shared` ('' when none;
    `comp_llm_graph.planning.query_parts`)."""
    answers: Annotated[dict[str, SubAnswer], merge_dicts]
    """Executor results by sub-query id; each branch writes its own."""
    final_answer: str
    """The answer to the query."""
    aggregation: Aggregation
    """How the final answer was made."""
    timings: Annotated[dict[str, float], merge_dicts]
    """Seconds spent per stage: plan, review, execute, aggregate, total."""


class State(OutputState, total=False):
    """The full state of one run: the output, and what the executor needs between steps."""

    run_token: str
    """Identifies this run to the scheduler (the same when resumed from a checkpoint)."""
    react_finished: bool
    """react mode: the planner decided it has enough answers."""
    schedule: str
    """The run's `Context.schedule`, kept so `dispatch` needs no injected runtime (an edge
    function with injected parameters breaks `update_state`)."""
    max_concurrency: int | None
    """The run's `Context.max_concurrency`, kept for the same reason."""
    review: bool
    """The plan waits for a reviewer (`Context.review_plan`) before it runs."""
    instructions: str
    """The conversation's system messages ("Answer briefly."), given to every expert and the
    aggregator ('' when there are none)."""


class Branch(TypedDict):
    """The payload of one executor branch (one `Send` per sub-query)."""

    sub_query: SubQuery
    """The sub-query to answer."""
    dependencies: dict[str, SubAnswer]
    """Answers of the sub-queries it depends on that were known when it was sent (with the
    ready schedule, the others are awaited in the branch)."""
    token: str
    """The run's scheduler token."""
    priority: float
    """Longest remaining path from this sub-query (weighted by expected latency)."""
    index: int
    """Position in the plan (ties in priority go in plan order)."""
    max_concurrency: int | None
    """The run's limit on sub-queries executing at once."""
    shared_context: NotRequired[str]
    """The query's material, for a sub-query marked `context: shared`."""
    instructions: NotRequired[str]
    """The conversation's system messages (`State.instructions`)."""
    early: NotRequired[bool]
    """Its expert started while the planner wrote, and the plan kept that answer
    (`Planning.early_started`): the branch takes it instead of asking again."""
