import pytest
import torch

from transferstudy.nets import architectures


@pytest.mark.parametrize("arch", architectures.list_models())
def test_penultimate_layer_is_the_input_of_the_classifier(arch):
    torch.manual_seed(0)
    model = architectures.create_model(arch, num_classes=7).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        features = architectures.penultimate(model, x)
        logits = model(x)
    assert features.shape == (3, model.num_features) == (3, model.fc.in_features)
    torch.testing.assert_close(model.fc(features), logits)


def test_zoo_has_at_least_six_families_and_unknown_names_are_refused():
    assert len(architectures.list_models()) >= 6
    with pytest.raises(KeyError, match="unknown architecture 'resnet9000'; valid: mini_convnet"):
        architectures.create_model("resnet9000", num_classes=2)


@pytest.mark.parametrize("arch", architectures.list_models())
def test_auxiliary_head_reads_the_body_and_leaves_the_main_path_unchanged(arch):
    torch.manual_seed(0)
    model = architectures.create_model(arch, num_classes=5, aux_head=True).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits, aux_logits = model.forward_train(x)
        torch.testing.assert_close(logits, model(x))
    assert aux_logits.shape == (2, 5)
    assert architectures.create_model(arch, num_classes=5).forward_train(x)[1] is None


def test_dropout_acts_before_the_classifier_in_training_only():
    torch.manual_seed(0)
    model = architectures.create_model("mini_vgg", num_classes=5, drop_rate=0.5)
    x = torch.randn(4, 3, 32, 32)
    model.train()
    with torch.no_grad():
        features = architectures.penultimate(model, x)
        dropped = model.forward_head(model.forward_features(x))
    assert not torch.allclose(dropped, model.fc(features))  # half the features zeroed, the rest doubled
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.fc(architectures.penultimate(model, x)))


def test_without_batch_norm_gamma_every_scale_is_one_and_stays_one_through_training():
    torch.manual_seed(0)
    model = architectures.create_model("mini_resnet8", num_classes=3, bn_gamma=False)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(not m.weight.requires_grad and torch.all(m.weight == 1) for m in norms)
    assert all(m.bias.requires_grad for m in norms)  # the shift (beta) is kept, as TensorFlow's scale=False
    from transferstudy.train.loop import sgd_nesterov
    optimizer = sgd_nesterov(model, 0.1, 0.9, 1e-3)
    loss = model(torch.randn(8, 3, 32, 32)).logsumexp(1).mean()
    loss.backward()
    optimizer.step()
    assert all(torch.all(m.weight == 1) for m in norms)
