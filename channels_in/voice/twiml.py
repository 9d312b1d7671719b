"""TwiML, the XML a Twilio-compatible voice provider follows. Built with ElementTree, so a
greeting typed by an admin can never break out of its element."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - we only build XML, never parse it

from ..config import PhoneConfig


def _root() -> ET.Element:
    return ET.Element("Response")


def _say(parent: ET.Element, text: str, voice: str) -> None:
    ET.SubElement(parent, "Say", voice=voice).text = text


def render(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def menu_prompt(config: PhoneConfig) -> str:
    options = " ".join(f"For {o.label}, press {o.digit}." for o in config.menu)
    return f"{config.greeting} {options}".strip()


def greeting(config: PhoneConfig, *, menu_url: str, voicemail_url: str) -> str:
    root = _root()
    if config.menu:
        gather = ET.SubElement(
            root, "Gather", numDigits="1", action=menu_url, method="POST", timeout="6"
        )
        _say(gather, menu_prompt(config), config.voice)
    else:
        _say(root, config.greeting, config.voice)
    ET.SubElement(root, "Redirect", method="POST").text = voicemail_url
    return render(root)


def not_an_option(config: PhoneConfig, *, again_url: str) -> str:
    root = _root()
    _say(root, "Sorry, that is not one of the options.", config.voice)
    ET.SubElement(root, "Redirect", method="POST").text = again_url
    return render(root)


def connect(config: PhoneConfig, *, label: str, number: str, dial_url: str) -> str:
    root = _root()
    _say(root, f"Connecting you to {label}.", config.voice)
    ET.SubElement(root, "Dial", action=dial_url, method="POST", timeout="20").text = number
    return render(root)


def redirect(url: str) -> str:
    root = _root()
    ET.SubElement(root, "Redirect", method="POST").text = url
    return render(root)


def voicemail(config: PhoneConfig, *, recording_url: str, transcription_url: str) -> str:
    root = _root()
    _say(root, config.voicemail_prompt, config.voice)
    attrs = {
        "action": recording_url,
        "method": "POST",
        "maxLength": str(config.max_recording_seconds),
        "playBeep": "true",
        "finishOnKey": "#",
    }
    if config.transcribe:
        attrs.update(transcribe="true", transcribeCallback=transcription_url)
    ET.SubElement(root, "Record", attrs)
    _say(root, "We did not receive a message. Goodbye.", config.voice)
    ET.SubElement(root, "Hangup")
    return render(root)


def goodbye(config: PhoneConfig, text: str = "Thank you. Goodbye.") -> str:
    root = _root()
    _say(root, text, config.voice)
    ET.SubElement(root, "Hangup")
    return render(root)
