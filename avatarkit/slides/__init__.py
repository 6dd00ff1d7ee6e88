"""Slide decks: PowerPoint, PDF and Markdown slides read, pages rendered, decks turned into scripts.

`read_deck` gives a deck's slides (title, bullets, notes, pictures);
`render_page` rasterises a page of an image, PDF or PowerPoint file to fit
a box; `VideoSlide` plays a video as a slide on the output's frame clock;
`from_slides` writes an avatarkit script that presents a deck, its speaker
notes as narration.
"""

from .convert import from_slides, narration
from .deck import read_deck, read_notes_file
from .model import Deck, Slide, SlideError, fit_size
from .pages import libreoffice, office_pdf, render_page
from .video import VideoSlide

__all__ = ["Deck", "Slide", "SlideError", "VideoSlide", "fit_size", "from_slides", "libreoffice", "narration",
           "office_pdf", "read_deck", "read_notes_file", "render_page"]
