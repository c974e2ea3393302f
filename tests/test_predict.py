"""Predictions: interval ordering, shapes, regions, and the band plot files."""

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.plotting import plot_bands, save_figure
from bayes_scaling.predict import predict, predict_held_out


@pytest.fixture(scope="module")
def table(arc_easy_fit):
    return predict(arc_easy_fit, [1e18, 5e20, 9e20, 1e22, 1e24], prob=(0.5, 0.8, 0.9))


def test_shapes_and_columns(table):
    assert len(table) == 5
    for column in ["compute", "median", "lower_50", "upper_90", "predictive_median", "predictive_lower_80",
                   "predictive_upper_90", "region", "decades_beyond"]:
        assert column in table


def test_intervals_are_nested(table, arc_easy_fit):
    assert (table["lower_90"] <= table["lower_80"]).all()
    assert (table["lower_80"] <= table["lower_50"]).all()
    assert (table["lower_50"] <= table["median"]).all()
    assert (table["median"] <= table["upper_50"]).all()
    assert (table["upper_50"] <= table["upper_80"]).all()
    assert (table["upper_80"] <= table["upper_90"]).all()
    # A new run scatters around the mean curve, so its interval is wider. Far
    # out the form error, shared by both bands, dwarfs that noise and their ends
    # agree to Monte Carlo error; from the parameters alone the order is strict.
    parametric = predict(arc_easy_fit, [1e18, 5e20, 9e20, 1e22, 1e24], prob=(0.9,), form_error=False)
    assert (parametric["predictive_lower_90"] < parametric["lower_90"]).all()
    assert (parametric["predictive_upper_90"] > parametric["upper_90"]).all()
    assert (table["predictive_lower_90"] < table["lower_90"] + 0.005).all()
    assert (table["predictive_upper_90"] > table["upper_90"] - 0.005).all()


def test_predictions_are_accuracies_above_chance(table):
    for column in ["lower_90", "upper_90", "predictive_lower_90", "predictive_upper_90"]:
        assert table[column].between(0.25, 1.0).all()
    # More compute, higher accuracy (alpha > 0), and wider bands further out.
    assert np.all(np.diff(table["median"]) > 0)
    width = table["upper_90"] - table["lower_90"]
    assert width.iloc[-1] > width.iloc[2]


def test_regions(table, arc_easy_fit):
    assert table["region"].tolist() == ["interpolation"] * 3 + ["extrapolation"] * 2
    largest = float(arc_easy_fit["constant_data"]["flops"].max())
    np.testing.assert_allclose(table["decades_beyond"].iloc[3:], np.log10([1e22 / largest, 1e24 / largest]),
                               atol=1e-3)
    assert (table["decades_beyond"].iloc[:3] == 0).all()


def test_held_out_predictions(arc_easy_fit):
    held = predict_held_out(arc_easy_fit)
    assert len(held) == 17
    assert held["region"].eq("extrapolation").all()
    assert held["inside_90"].dtype == bool
    # The 90% interval contains the 50% one, so every run inside 50% is inside 90%.
    assert not (held["inside_50"] & ~held["inside_90"]).any()


def test_predict_rejects_bad_input(arc_easy_fit):
    with pytest.raises(bs.SpecError, match="option prob"):
        predict(arc_easy_fit, [1e21], prob=(1.5,))
    with pytest.raises(bs.SpecError, match="option compute"):
        predict(arc_easy_fit, [-1.0])
    with pytest.raises(bs.SpecError, match="needs compute"):
        predict(arc_easy_fit)


def test_band_plot_written(arc_easy_fit, tmp_path):
    paths = save_figure(plot_bands(arc_easy_fit), tmp_path / "arc_easy")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert all(p.stat().st_size > 10_000 for p in paths)
