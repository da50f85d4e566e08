"""The service's page in a real headless Chromium (Debian's chromium + chromium-driver, scripts/install_browser.sh):
drop a photo and a clip, watch them run, see the before/after slider and the first composited frame, download
both results and open them. The service requires a token here, so the page must carry it (given as ?token=).

Missing Chromium fails this test; only STREAMSEG_NO_BROWSER=1 skips it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from serving import request, running_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TOKEN = "browser-test-token-7f3a"


@pytest.fixture()
def chrome(tmp_path, monkeypatch):
    if os.environ.get("STREAMSEG_NO_BROWSER") == "1":
        pytest.skip("STREAMSEG_NO_BROWSER=1")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.fail(f"{path} is missing: run `bash scripts/install_browser.sh` (Debian's chromium and "
                        "chromium-driver), or set STREAMSEG_NO_BROWSER=1 to skip this test")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_downloads(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked for a browser or driver: it must never download one")

    monkeypatch.setattr(SeleniumManager, "binary_paths", no_downloads)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,1600"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "profile.default_content_setting_values.automatic_downloads": 1})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def drop_files(driver, paths: list[Path]) -> None:
    """Drop files on the page's drop zone as a person would: a DataTransfer holding the files, in dragover and drop
    events (Selenium cannot drag from the desktop, so the files come through a file input it can fill)."""
    from selenium.webdriver.common.by import By

    driver.execute_script("const i = document.createElement('input'); i.type = 'file'; i.multiple = true;"
                          "i.id = 'test-files'; document.body.append(i);")
    driver.find_element(By.ID, "test-files").send_keys("\n".join(str(p) for p in paths))
    driver.execute_script("""
        const input = document.getElementById('test-files');
        const data = new DataTransfer();
        for (const f of input.files) data.items.add(f);
        input.remove();
        const zone = document.getElementById('drop');
        for (const type of ['dragenter', 'dragover', 'drop'])
          zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
    """)


def wait_for(what: str, check, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_page_drops_a_photo_and_a_clip_and_downloads_both(chrome, warm_segmenter, clip, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    photo = tmp_path / "car.jpg"
    with av.open(str(clip)) as c:
        next(c.decode(video=0)).to_image().save(photo, quality=92)
    with running_service(tmp_path / "data", warm_segmenter, token=TOKEN, max_upload_mb=5) as svc:
        assert request(svc.url + "/api/jobs").status == 401  # the page below works only by sending the token
        chrome.get(f"{svc.url}/?token={TOKEN}")
        assert "token" not in chrome.current_url  # taken out of the address bar, kept for the tab
        wait_for("the service's info line", lambda: "Model default" in chrome.find_element(By.ID, "info").text, 20)
        Select(chrome.find_element(By.ID, "bg")).select_by_value("white")
        drop_files(chrome, [photo, clip])

        def finished():
            cards = chrome.find_elements(By.CSS_SELECTOR, ".job")
            states = [c.get_attribute("data-status") for c in cards]
            assert "failed" not in states, [c.text for c in cards]
            return len(cards) == 2 and all(s == "done" for s in states) and cards

        cards = wait_for("both jobs to finish", finished)
        by_kind = {c.get_attribute("data-kind"): c for c in cards}
        # the photo: before and after pictures loaded, and the slider moves the split
        compare = wait_for("the photo's before/after", lambda: by_kind["photo"].find_elements(By.CSS_SELECTOR,
                                                                                              ".compare"))[0]
        sizes = chrome.execute_script(
            "return [...arguments[0].querySelectorAll('img')].map(i => [i.className, i.naturalWidth])", compare)
        assert sorted(sizes) == [["after checker", 256], ["before", 256]], sizes
        slider = compare.find_element(By.CSS_SELECTOR, "input[type=range]")
        chrome.execute_script("arguments[0].value = 20; arguments[0].dispatchEvent(new Event('input'))", slider)
        clip_path = chrome.execute_script("return arguments[0].querySelector('.before').style.clipPath", compare)
        assert clip_path.replace("px", "") == "inset(0 80% 0 0)", clip_path
        # the clip: its first composited frame
        preview = wait_for("the clip's first frame", lambda: by_kind["video"].find_elements(By.CSS_SELECTOR,
                                                                                           "img.preview"))[0]
        assert wait_for("the preview to load", lambda: chrome.execute_script(
            "return arguments[0].naturalWidth", preview), 20) == 256
        # both downloads, through the page's links (fetched with the token, saved by the browser)
        for card in cards:
            card.find_element(By.CSS_SELECTOR, "a.download").click()
        names = {"car_streamseg.jpg", "clip_streamseg.mp4"}
        wait_for("the downloads", lambda: names <= {p.name for p in chrome.downloads.iterdir()}, 30)

    with Image.open(chrome.downloads / "car_streamseg.jpg") as im:
        assert im.format == "JPEG" and im.size == (256, 144)
        corner = np.asarray(im.convert("RGB"))[:6, :6].reshape(-1, 3).mean(0)
    assert corner.min() > 235  # the white backdrop chosen on the page
    with av.open(str(chrome.downloads / "clip_streamseg.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 12 and frames[0].shape == (144, 256, 3)
