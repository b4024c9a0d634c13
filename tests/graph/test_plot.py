from PIL import Image

from cxrgraph.graph import ClinicalGraph, plot_graph


def test_plot_writes_a_png(tmp_path):
    g = ClinicalGraph.from_triplets(
        [
            ("left base", "opacity", "present"),
            (None, "pneumothorax", "absent"),
            ("right base", "effusion", "uncertain"),
        ],
        suggestive_of=[("opacity", "pneumonia")],
        study_id="s1",
    )
    path = tmp_path / "sub" / "graph.png"
    fig = g.plot(path)
    img = Image.open(path)
    assert img.format == "PNG" and img.size[0] > 300 and img.size[1] > 300
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "no pneumothorax" in texts  # negated findings are visibly marked
    assert "? pleural effusion" in texts
    assert "lung opacity" in texts
    assert fig.axes[0].get_title() == "s1"


def test_plot_into_existing_axes_without_absent_findings():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot(1, 2, 1)
    g = ClinicalGraph.from_triplets([(None, "pneumothorax", "absent")])
    plot_graph(g, ax=ax, show_absent=False, title="t")
    assert all("pneumothorax" not in t.get_text() for t in ax.texts)
