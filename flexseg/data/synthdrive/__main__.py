"""``python -m flexseg.data.synthdrive --preview out.png``: see ``preview.main``."""
from flexseg.data.synthdrive.preview import main

if __name__ == "__main__":
    main()
