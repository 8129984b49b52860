"""The graph in a real chat client no one here wrote: Agent Chat UI in headless Chromium.

LangChain's Agent Chat UI (built from npm by `agent_chat_ui.dist`) is served on 127.0.0.1 against
`langgraph dev`, and driven in Debian's Chromium through playwright. A user types a two-part
question and sees one answer with both parts, then asks a follow-up on the same thread that is
answered about the right entity; one user bubble and one assistant bubble per turn. The page is
saved to `docs/chat-ui.png`.

Without npm (or the npm registry), Chromium or playwright the test is skipped, saying which;
`.ci/run` installs them.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest

from comp_llm_graph.evaluation.fleet import free_ports
from tests.real import agent_chat_ui as ui

pytestmark = pytest.mark.real
INPUT = "Type your message..."
SCREENSHOT = ui.REPO / "docs" / "chat-ui.png"
FIRST = "What is the capital of France, and what is 15% of 240?"
FOLLOW_UP = "What is its population?"


@pytest.fixture(scope="module")
def chat_client(tmp_path_factory):
    """(UI URL, server URL), or a skip saying what is missing."""
    try:
        ui.playwright_installed()
        browser = ui.chromium()
        built = ui.dist()
    except ui.Unavailable as exc:
        pytest.skip(f"the real chat client cannot run here: {exc}")
    folder = tmp_path_factory.mktemp("chat-ui")
    port = free_ports(1)[0]
    env = {**os.environ, "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(folder))}
    with ui.langgraph_dev(port, folder / "server.log", env) as api, ui.served(built) as page:
        yield page, api, browser


async def _send(page, text: str, timeout_ms: int = 300_000) -> str:
    """Type `text`, send it, and wait until the run is over; the last assistant text."""
    answers = await page.locator("div.markdown-content").count()
    await page.get_by_placeholder(INPUT).fill(text)
    await page.get_by_role("button", name="Send").click()
    await page.wait_for_function(
        """n => document.querySelectorAll('div.markdown-content').length > n
               && ![...document.querySelectorAll('form button')]
                    .some(b => b.textContent.includes('Cancel'))""",
        arg=answers, timeout=timeout_ms)
    return await page.locator("div.markdown-content").last.inner_text()


async def test_a_user_sees_one_answer_per_turn_with_both_parts_and_a_follow_up(chat_client):
    from langgraph_sdk import get_client
    from playwright.async_api import async_playwright

    page_url, api, browser_path = chat_client
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{page_url}/?apiUrl={quote(api, safe='')}&assistantId=comp_llm")
            await page.get_by_placeholder(INPUT).wait_for(timeout=60_000)

            first = await _send(page, FIRST)
            assert "paris" in first.lower() and "36" in first, first
            assert await page.locator("p.rounded-3xl").count() == 1
            assert await page.locator("div.markdown-content").count() == 1

            second = await _send(page, FOLLOW_UP)
            assert await page.locator("p.rounded-3xl").count() == 2
            assert await page.locator("div.markdown-content").count() == 2
            assert second.strip()
            await page.screenshot(path=str(SCREENSHOT), full_page=True)

            thread = page.url.split("threadId=")[1].split("&")[0]
            values = (await get_client(url=api).threads.get_state(thread))["values"]
            assert errors == []
        finally:
            await browser.close()
    assert [m["type"] for m in values["messages"]] == ["human", "ai", "human", "ai"]
    assert values["query"] == FOLLOW_UP  # the user's words, as typed
    assert values["planning"]["condensed"]["referent"] == "Paris"
    assert "Paris" in values["standalone_query"]
    assert values["messages"][-1]["content"].strip() == second.strip() or second.strip() in (
        values["messages"][-1]["content"])
