"""Section 3's recurrent networks: a window forecaster, three sentiment classifiers, a token
language model, and temperature sampling from it."""

from __future__ import annotations

import torch
from torch import nn


class WindowRNN(nn.Module):
    """Keras `SimpleRNN(hidden)` + `Dense(1)`: reads a window of scalars, predicts the next."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn = nn.RNN(1, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        _, last = self.rnn(window.unsqueeze(-1))
        return self.out(last[-1]).squeeze(-1)


class EmbeddingPool(nn.Module):
    """The report's embedding model: a 1-d embedding per word, averaged over the words (padding
    excluded), then a dense layer. Word order cannot matter: the same words in any order score
    the same."""

    def __init__(self, vocab_size: int, num_classes: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 1, padding_idx=0)
        self.out = nn.Linear(1, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).unsqueeze(-1).float()
        pooled = (self.embedding(ids) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.out(pooled)


class LSTMClassifier(nn.Module):
    """Embedding -> LSTM -> dense on the last step. Sequences are padded in front (Keras's
    default), so the last step follows the text's last word."""

    def __init__(
        self, vocab_size: int, embedding_dim: int, hidden: int, num_classes: int = 2
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(self.embedding(ids))
        return self.out(outputs[:, -1])

    @torch.no_grad()
    def load_word_vectors(self, vectors: torch.Tensor, found: torch.Tensor) -> None:
        """Copy pretrained rows for the words that have one; the rest keep their random init."""
        self.embedding.weight[found] = vectors[found].to(self.embedding.weight)


class TokenLSTM(nn.Module):
    """Next-token language model over words or characters. `forward` returns (N, vocab, L)
    scores, the layout cross-entropy takes for sequences."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def step(self, ids: torch.Tensor, state=None) -> tuple[torch.Tensor, tuple]:
        """Scores (N, L, vocab) after each of `ids` (N, L), and the LSTM state to continue."""
        outputs, state = self.lstm(self.embedding(ids), state)
        return self.out(outputs), state

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.step(ids)[0].transpose(1, 2)


@torch.no_grad()
def sample(
    model: TokenLSTM,
    prompt: list[int],
    length: int,
    temperature: float,
    generator: torch.Generator,
    banned: tuple[int, ...] = (),
) -> list[int]:
    """`length` token ids continuing `prompt`, each drawn from softmax(scores / temperature).

    Low temperatures sharpen the distribution towards the most likely token (argmax as T -> 0);
    T = 1 samples the model's own distribution. `banned` ids (padding, unknown) are never drawn.
    """
    model.eval()
    device = next(model.parameters()).device
    scores, state = model.step(torch.tensor([prompt], device=device))
    generated = []
    for _ in range(length):
        logits = scores[0, -1].double() / temperature
        logits[list(banned)] = -torch.inf
        probabilities = torch.softmax(logits, dim=0).cpu()
        token = int(torch.multinomial(probabilities, 1, generator=generator))
        generated.append(token)
        scores, state = model.step(torch.tensor([[token]], device=device), state)
    return generated
