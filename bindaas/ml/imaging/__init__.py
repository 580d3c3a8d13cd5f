"""The imaging model: a brain MRI tumour detector (Br35H) by transfer learning from EfficientNet-Lite0, with
Grad-CAM heatmaps, evaluated on a split that keeps near-duplicate images on one side."""
