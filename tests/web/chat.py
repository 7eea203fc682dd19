"""The web chat and the board in a real browser (Chromium, headless) at phone width.

    scripts/browser tests/web/chat.py BASE_URL ARTIFACT_DIR REPORT_TEXT

Opens BASE_URL/chat, reports REPORT_TEXT, waits for the bot's answer with a report
number, finds that report on the board and on its page; types markup into the chat and
checks it shows as text and never runs; checks nothing scrolls sideways at 390 px and
the text is at least 14 px. Saves screenshots of the chat, the board and the stats in
ARTIFACT_DIR. Prints "OK #N" and exits 0, or prints what failed and exits 1.
"""

import os
import re
import sys

from playwright.sync_api import sync_playwright

base, artifacts, report = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(artifacts, exist_ok=True)
WAIT = 20_000  # ms


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_phone_layout(page, what):
    wide = page.evaluate("document.documentElement.scrollWidth")
    if wide > 390:
        fail(f"{what}: the page is {wide} px wide at a 390 px screen (scrolls sideways)")
    small = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
              .filter(e => e.offsetParent !== null && e.childNodes.length
                        && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
              .map(e => [e.tagName, parseFloat(getComputedStyle(e).fontSize)])
              .filter(([, px]) => px < 14)"""
    )
    if small:
        fail(f"{what}: text smaller than 14 px: {small[:5]}")


with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=os.environ["PLAZA_CHROMIUM"],
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"],
    )
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                              has_touch=True)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"{base}/chat")
    page.wait_for_selector("#log[data-ready='1']", timeout=WAIT)  # the script ran
    check_phone_layout(page, "/chat")
    before = page.locator("#log .bot").count()
    page.fill("#say textarea", report)
    page.click("#say button[type=submit]")
    page.wait_for_function(
        "n => [...document.querySelectorAll('#log .bot')].slice(n).some(e => /#\\d+/.test(e.textContent))",
        arg=before, timeout=WAIT)
    answer = [t for t in page.locator("#log .bot").all_text_contents()[before:] if re.search(r"#\d+", t)][0]
    number = re.search(r"#(\d+)", answer).group(1)
    if page.locator("#log .me").last.text_content() != report:
        fail("the resident's own message is not shown as they wrote it")

    # Markup typed into the chat is text: shown as typed, never an element, never run.
    xss = '<img src=x onerror="window.__pwned=1;alert(1)"><b>bold</b>'
    page.fill("#say textarea", xss)
    page.click("#say button[type=submit]")
    page.wait_for_function("t => [...document.querySelectorAll('#log .me')].some(e => e.textContent === t)",
                           arg=xss, timeout=WAIT)
    page.wait_for_timeout(1500)  # the bot's answer to it, and time for any script to run
    if page.evaluate("window.__pwned === 1") or dialogs:
        fail("markup typed in the chat ran as script")
    if page.locator("#log img, #log b").count():
        fail("markup typed in the chat became elements")
    page.screenshot(path=os.path.join(artifacts, "chat.png"), full_page=True)

    # After a reload (no script state), the conversation is still there, escaped.
    page.reload()
    page.wait_for_selector("#log[data-ready='1']", timeout=WAIT)
    if page.locator("#log img").count() or page.evaluate("window.__pwned === 1"):
        fail("markup from the chat became elements after a reload")
    if not any(f"#{number}" in t for t in page.locator("#log .bot").all_text_contents()):
        fail("the answer with the number is gone after a reload")

    # The report is on the board, and its page opens.
    page.goto(f"{base}/")
    check_phone_layout(page, "/")
    link = page.locator(f"a[href^='/tasks/{number}?']")
    if link.count() != 1:
        fail(f"report #{number} is not on the board")
    page.screenshot(path=os.path.join(artifacts, "board.png"), full_page=True)
    link.click()
    page.wait_for_url(re.compile(rf"/tasks/{number}\b"), timeout=WAIT)
    check_phone_layout(page, f"/tasks/{number}")
    h1 = page.locator("h1").text_content()
    if f"#{number}" not in h1:
        fail(f"the task page's title is {h1!r}")

    page.goto(f"{base}/stats")
    check_phone_layout(page, "/stats")
    if page.locator("svg").count() < 1:
        fail("no chart on /stats")
    page.screenshot(path=os.path.join(artifacts, "stats.png"), full_page=True)

    if errors:
        fail(f"script errors in the page: {errors}")
    browser.close()
    print(f"OK #{number}")
