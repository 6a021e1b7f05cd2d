// The loss history of a training run, saved as CSV (one row per optimizer step) and drawn as an SVG
// plot (training loss as a line, validation loss as dots, log-free linear axes with labelled ticks).
import Foundation
import VerbaSupport

/// One optimizer step's record.
package struct LossRecord: Sendable, Equatable {
    package var step: Int
    package var learningRate: Float
    package var trainLoss: Float
    /// Validation loss, when it was measured at this step.
    package var validationLoss: Float?
    package var tokensPerSecond: Double
    package var elapsedSeconds: Double
}

/// A loss curve that survives restarts: `load` keeps the rows up to the resumed step.
package final class LossCurve {
    package private(set) var records: [LossRecord] = []
    package let csvPath: String
    package let svgPath: String
    package var title: String

    package init(csvPath: String, svgPath: String, title: String) {
        self.csvPath = csvPath
        self.svgPath = svgPath
        self.title = title
    }

    /// Reads an existing CSV, keeping rows with step ≤ `upTo` (the checkpoint a run resumes from).
    package func load(upTo: Int) {
        records = []
        guard let text = try? String(contentsOfFile: csvPath, encoding: .utf8) else { return }
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 6, let step = Int(f[0]), step <= upTo, let lr = Float(f[1]), let loss = Float(f[2]),
                  let tps = Double(f[4]), let el = Double(f[5]) else { continue }
            records.append(LossRecord(step: step, learningRate: lr, trainLoss: loss, validationLoss: Float(f[3]),
                                      tokensPerSecond: tps, elapsedSeconds: el))
        }
    }

    package func append(_ r: LossRecord) { records.append(r) }

    /// Rewrites the CSV and the SVG (atomically).
    package func save() throws {
        var csv = "step,lr,train_loss,val_loss,tokens_per_s,elapsed_s\n"
        for r in records {
            let val = r.validationLoss.map { String(format: "%.6f", $0) } ?? ""
            csv += "\(r.step),\(String(format: "%.6g", r.learningRate)),\(String(format: "%.6f", r.trainLoss)),\(val),"
                + "\(String(format: "%.1f", r.tokensPerSecond)),\(String(format: "%.1f", r.elapsedSeconds))\n"
        }
        try writeAtomically(Data(csv.utf8), to: csvPath)
        try writeAtomically(Data(svg().utf8), to: svgPath)
    }

    /// The plot as an SVG document.
    package func svg(width: Double = 720, height: Double = 420) -> String {
        let left = 60.0, right = 20.0, top = 36.0, bottom = 44.0
        let pw = width - left - right, ph = height - top - bottom
        let steps = records.map { Double($0.step) }
        let losses = records.map { Double($0.trainLoss) } + records.compactMap { $0.validationLoss.map(Double.init) }
        let xMin = steps.min() ?? 0, xMax = max((steps.max() ?? 1), xMin + 1)
        var yMin = losses.min() ?? 0, yMax = losses.max() ?? 1
        if yMax - yMin < 1e-6 { yMax = yMin + 1 }
        let pad = (yMax - yMin) * 0.05
        yMin -= pad; yMax += pad
        func x(_ s: Double) -> Double { left + (s - xMin) / (xMax - xMin) * pw }
        func y(_ v: Double) -> Double { top + (1 - (v - yMin) / (yMax - yMin)) * ph }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">\(escapeMarkup(title))</text>\n"
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#444\"/>\n"
        for i in 0...5 {
            let v = yMin + (yMax - yMin) * Double(i) / 5, yy = y(v)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(yy))\" x2=\"\(f(left + pw))\" y2=\"\(f(yy))\" stroke=\"#ddd\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(String(format: "%.2f", v))</text>\n"
            let sv = xMin + (xMax - xMin) * Double(i) / 5, xx = x(sv)
            s += "<text x=\"\(f(xx))\" y=\"\(f(top + ph + 16))\" text-anchor=\"middle\">\(Int(sv.rounded()))</text>\n"
        }
        s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">step</text>\n"
        s += "<text x=\"14\" y=\"\(f(top + ph / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(f(top + ph / 2)))\">loss</text>\n"
        if !records.isEmpty {
            // Thin the training line to at most ~1000 points.
            let every = max(1, records.count / 1000)
            var pts: [String] = []
            for (i, r) in records.enumerated() where i % every == 0 || i == records.count - 1 {
                pts.append("\(f(x(Double(r.step)))),\(f(y(Double(r.trainLoss))))")
            }
            s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.2\" points=\"\(pts.joined(separator: " "))\"/>\n"
            for r in records {
                if let v = r.validationLoss {
                    s += "<circle cx=\"\(f(x(Double(r.step))))\" cy=\"\(f(y(Double(v))))\" r=\"3\" fill=\"#d62728\"/>\n"
                }
            }
        }
        s += "<line x1=\"\(f(left + pw - 150))\" y1=\"\(f(top + 14))\" x2=\"\(f(left + pw - 130))\" y2=\"\(f(top + 14))\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
        s += "<text x=\"\(f(left + pw - 125))\" y=\"\(f(top + 18))\">train loss</text>\n"
        s += "<circle cx=\"\(f(left + pw - 140))\" cy=\"\(f(top + 32))\" r=\"3\" fill=\"#d62728\"/>"
        s += "<text x=\"\(f(left + pw - 125))\" y=\"\(f(top + 36))\">validation loss</text>\n"
        s += "</svg>\n"
        return s
    }
}

