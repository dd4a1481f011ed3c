import pytest
import torch

from transferstudy import models


@pytest.mark.parametrize("arch", models.list_models())
def test_penultimate_layer_is_the_input_of_the_classifier(arch):
    torch.manual_seed(0)
    model = models.create_model(arch, num_classes=7).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        features = models.penultimate(model, x)
        logits = model(x)
    assert features.shape == (3, model.num_features) == (3, model.fc.in_features)
    torch.testing.assert_close(model.fc(features), logits)


def test_zoo_has_at_least_six_families_and_unknown_names_are_refused():
    assert len(models.list_models()) >= 6
    with pytest.raises(KeyError, match="unknown architecture 'resnet9000'; valid: mini_convnet"):
        models.create_model("resnet9000", num_classes=2)
