"""What a referring word of a follow-up means: an entity of the right kind from the last turn.

`he`/`she`/`him`/`his`/`her` need a person, `it`/`its` a thing, `they`/`them`/`their` a group
(people or things), `there` a place; none of them is ever a number, a date or a code ("10",
"April 24, 1990", "C8H10N4O2"). The candidates are the names of the previous turn (runs of
capitalised words: "Neil Armstrong", "Mount Everest", "Apollo 11"), a short answer without one
("The cheetah.") and the turn's topic: what "Tell me about" names, what a definition ("What are
axolotls?") or a yes/no question ("Is a tomato a fruit...?") is about, the phrase after the
first preposition ("the speed of light" -> "light"), the object of a "who" question ("Who
discovered penicillin?" -> "penicillin"), the counted things of "how many" for a plural word.

- A person: the one person-like name (two to four capitalised words, none of them a place or
  thing word such as "Mount", "City", "Prize", "Studio") in the answer, leaving out names the
  question already had unless it asked to choose ("Lincoln or Washington?"); for a "who"
  question, a one-word name the answer adds ("Shakespeare.") counts too. Else the one person
  the question names. Two candidates ("Bill Gates and Paul Allen") are ambiguous.
- A thing or a group: after "Tell me about", a definition or a yes/no question, or a "who" or
  "where" question, the turn's topic (the answer says something about it, or is a person or a
  place). Else the first name the answer adds that is not a person (for a group, a band's name
  counts) or a number, else, for a choice, the first option the answer names; else the topic.
- A place: after "where", the first name the answer adds; else the first that is not a person;
  else the topic.

Nothing found, or an ambiguous person: the follow-up is left as asked (None), never guessed.
`benchmarks/followups.py` measures it on conversations written for it (`tests/data/`).
"""

from __future__ import annotations

import re

__all__ = ["KINDS", "is_value", "referent"]

KINDS = {"he": "person", "she": "person", "him": "person", "his": "person", "her": "person",
         "it": "thing", "its": "thing", "they": "group", "them": "group", "their": "group",
         "there": "place"}
"""The kind of entity each referring word needs."""

_TOKEN = r"(?:[A-Z][\w'-]*|\d[\d.,]*)"
_NAME = re.compile(rf"\b{_TOKEN}(?:\s+(?:(?:of|de|da|di|van|von|der|del|du|la|le)\s+)?{_TOKEN})*")
"""A run of capitalised words or numbers ("William Shakespeare", "Mount Fuji", "36")."""
_LEADING = {"The", "A", "An", "And", "What", "Who", "Which", "When", "Where", "How", "Why",
            "Is", "Are", "Was", "Were", "Do", "Does", "Did", "Can", "In", "On", "At", "It",
            "Its", "This", "That", "Yes", "No", "Answer", "About", "Around", "Approximately",
            "Roughly", "Nearly", "Over", "Under", "Some", "During", "By", "Tell", "Me",
            "There", "Here", "They", "He", "She", "Not", "Only", "Also"}
_THING_WORDS = {
    "mount", "mountain", "river", "ocean", "sea", "lake", "city", "state", "states", "republic",
    "kingdom", "empire", "university", "college", "school", "company", "inc", "war", "bridge",
    "tower", "island", "islands", "desert", "park", "street", "way", "galaxy", "museum",
    "church", "cathedral", "palace", "canal", "bay", "gulf", "strait", "valley", "union",
    "nations", "party", "army", "revolution", "station", "system", "council", "court", "agency",
    "institute", "academy", "prize", "award", "cup", "games", "league", "club",
    "festival", "world", "moon", "sun", "earth", "wall", "square", "house", "hall", "center",
    "centre", "airport", "road", "county", "province", "district", "region", "peninsula",
    "channel", "falls", "canyon", "forest", "reef", "lisa", "supper", "symphony", "opera",
    "studio", "records", "pictures", "films", "entertainment", "group", "band", "corporation",
    "corp", "ltd", "labs", "press", "telescope", "probe", "mission", "ship", "airlines",
}
_NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve", "twenty", "thirty", "hundred", "thousand", "million",
                 "billion", "dozen", "half", "none", "zero"}
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december"}
_PREPOSITION = re.compile(r"\b(?:of|for|in|on|about|from|by|at)\s+(.+)$", re.IGNORECASE)
_WHO_OBJECT = re.compile(r"^whom?\s+\w+\s+(.+)$", re.IGNORECASE)
_SUBJECT = re.compile(  # "Is a tomato a fruit...": what a yes/no question is about
    r"^(?:is|are|was|were|does|do|did|can|could|has|have|will)\s+(?:(?:the|a|an)\s+)?"
    r"([\w'-]+(?:\s+(?:[A-Z][\w'-]*|\d+))*)", re.IGNORECASE)
_AUX_SUBJECT = re.compile(  # "How many strings does a standard violin have": the violin
    r"\b(?:does|do|did|is|are|was|were|has|have|can)\s+(?:(?:the|a|an)\s+)?"
    r"((?:[\w'-]+\s+)??[\w'-]+)\s+(?-i:[a-z][\w'-]*)$", re.IGNORECASE)
_DEFINITION = re.compile(  # "What are axolotls?" (not "What is 6 times 7?")
    r"^what\s+(?:is|are|was|were)\s+(?!the\b|a\b|an\b)(?![^?]*\d)([\w' -]+)$", re.IGNORECASE)
_HOW_MANY = re.compile(r"^how\s+many\s+((?:[\w'-]+\s+)?[\w'-]+?s)\b", re.IGNORECASE)
_ABOUT = re.compile(r"^(?:tell me|talk|say something|explain)\b.*?\babout\s+(?:the\s+)?(.+)$",
                    re.IGNORECASE)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_LABEL = re.compile(r"(?m)^\s*(?:(?:part|question)\s*\d+\s*[:.)]|\d+[.)]|[-*\u2022])\s+",
                    re.IGNORECASE)
"""A composed answer's part labels ("1. ", "Part 2: ", bullets), not names."""


def _names(text: str) -> list[str]:
    found = []
    for match in _NAME.finditer(text):
        words = match.group(0).split()
        while words and (words[0] in _LEADING or (len(words) == 1 and _adverb(words[0]))):
            words = words[1:]
        if words:
            found.append(" ".join(words).rstrip(".,"))
    return found


def _adverb(word: str) -> bool:
    """A sentence-opening adverb ("Botanically, ..."), capitalised but not a name."""
    return word.rstrip(",").endswith("ly") and word.rstrip(",").isalpha()


def is_value(name: str) -> bool:
    """A number, a date ("April 24, 1990") or a code ("C8H10N4O2", "Au").

    Such a name is an attribute's value, never what a follow-up's "it" means.
    """
    words = name.split()
    if all(re.fullmatch(r"[\d.,%]+", word) or word.lower().rstrip(".,:") in _NUMBER_WORDS
           for word in words):
        return True
    if any(w.lower().rstrip(".,") in _MONTHS for w in words) and any(
            w[:1].isdigit() for w in words):
        return True
    return len(words) == 1 and (bool(re.search(r"\d", name)) and bool(re.search(r"[A-Za-z]", name))
                                or (len(name) <= 2 and name.isalpha()))


def _person_like(name: str) -> bool:
    words = [w for w in name.split() if w[:1].isupper()]
    return (2 <= len(words) <= 4 and all(w.replace("-", "").replace("'", "").isalpha()
                                         for w in words)
            and not any(_thing_word(w) for w in words))


def _thing_word(word: str) -> bool:
    word = word.lower().removesuffix("'s")
    return word in _THING_WORDS or word.removesuffix("s") in _THING_WORDS


def _topic(question: str, plural: bool = False) -> str | None:
    """What the question is about; None when that is a number.

    The counted things of "how many" for a plural word; what "Tell me about" names; the subject
    of a yes/no question; the phrase after the first preposition; the object of a "who"
    question; else the question's last name.
    """
    text = question.strip().rstrip("?.!").strip()
    match = ((_HOW_MANY.match(text) if plural else None) or _ABOUT.match(text)
             or _DEFINITION.match(text) or _SUBJECT.match(text) or _PREPOSITION.search(text)
             or _WHO_OBJECT.match(text) or _AUX_SUBJECT.search(text))
    candidates = [_ARTICLE.sub("", match.group(1)).strip()] if match else []
    candidates += _names(text)[-1:]
    for candidate in candidates:
        if candidate and not is_value(candidate) and len(candidate.split()) <= 6:
            return candidate
    return None


def _one(names: list[str]) -> str | None | bool:
    """The one distinct name, None when there is none, False when there are several."""
    distinct = list(dict.fromkeys(n.lower() for n in names))
    if not distinct:
        return None
    return next(n for n in names if n.lower() == distinct[0]) if len(distinct) == 1 else False


def referent(kind: str, question: str, answer: str) -> str | None:
    """The entity of `kind` (person, thing, group or place) the previous turn offers.

    None when there is none or it is ambiguous (module docstring).
    """
    answer = _LABEL.sub("", answer)
    asked = question.lower()
    first_word = asked.split()[0] if asked.split() else ""
    choice = " or " in asked
    names = [n for n in _names(answer) if not is_value(n)]
    new = [n for n in names if n.lower() not in asked]
    text = question.strip().rstrip("?.!").strip()
    if (not question.rstrip().endswith("?") and _ABOUT.match(question.strip())) or (
            kind != "person" and (_DEFINITION.match(text) or _SUBJECT.match(text))):
        return _topic(question)  # "Tell me about Kyoto.", "What are axolotls?", "Is X ...?":
                                 # the answer says something about it
    if kind == "person":
        people = [n for n in (names if choice else new) if _person_like(n)]
        if first_word in ("who", "whom") and not people:
            people = [n for n in new if n.isalpha() and not _thing_word(n)][:1]
        found = _one(people)
        if found is None:
            asked_about = [n for n in _names(question) if _person_like(n)
                           or (first_word == "who" and n.isalpha() and not _thing_word(n))]
            found = _one(asked_about)
        return found or None
    if kind == "place" and first_word == "where" and new:
        return new[0]  # the answer to "where" is a place, whatever its name looks like
    things = [n for n in new if not _person_like(n)]
    if kind != "place" and first_word in ("who", "whom", "where"):
        return _topic(question, plural=kind == "group")
    if kind == "group":  # a band or a team reads like a person's name
        things = [n for n in new if not is_value(n)]
    if not names and 0 < len(answer.split()) <= 4 and not re.search(r"\d", answer):
        short = _ARTICLE.sub("", answer.strip().rstrip(".!")).strip()  # "The cheetah."
        if short.lower() not in ("yes", "no", *asked.split()) and not is_value(short):
            things = [short]
    if things and not (kind == "group" and _HOW_MANY.match(question.strip())):
        return things[0]
    if kind != "place" and choice:
        offered = [n for n in names if n.lower() in asked]
        if offered:
            return offered[0]
    return _topic(question, plural=kind == "group")
