"""Reports' tables: surveys (CSAT, NPS), rollups and goals. Each subject keeps its models in its
own module; they are imported here so that Django finds them."""
