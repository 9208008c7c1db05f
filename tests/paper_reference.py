"""The paper's Appendix B ``point_category``, copied verbatim: the reference the vectorised
``atlib.metrics.point_categories`` (and the explorer's filters) are tested against."""

import numpy as np


def point_category(avg_accuracies, avg_y_hats, y, threshold):
    """
    Assign a category to a sample based on the confidence of the models on a sample throughout the training.

    :param avg_accuracies: The average accuracy of the models on a sample throughout the training.
    :param avg_y_hats: The average predicted probabilities of the models on a sample throughout the training.
    :param y: The true label of a sample.
    :param threshold: The threshold for the confidence drop to be considered non-monotone.
    :return: The category of a sample.
    """

    # Calculate the total confidence drop
    confidences = avg_y_hats[:, y]
    confidence_drop = np.diff(confidences)
    total_confidence_drop = np.sum(np.abs(confidence_drop[confidence_drop < 0]))

    # If the total confidence drop is greater than the threshold, assign the category as non-monotone
    if total_confidence_drop > threshold:
        return 'non-monotone'

    # Calculate the distance of the confidences to the template learning profiles (easy, hard, monotone)
    distances = {
        'easy': (np.ones_like(confidences) - confidences).sum(),
        'hard': (confidences - np.zeros_like(confidences)).sum(),
        'monotone': np.abs(confidences - avg_accuracies).sum()
    }

    # Assign the category as the one with the minimum distance
    return min(distances, key=distances.get)
