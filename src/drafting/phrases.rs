//! Customer-facing wording of the extractive drafter and the AI disclosure,
//! per language. English is used for languages not listed.

pub struct Phrases {
    pub greeting: &'static str,
    pub lead_in: &'static str,
    pub more_info: &'static str,
    pub no_answer: &'static str,
    /// The label on a reply the AI wrote and no human reviewed.
    pub disclosure_ai: &'static str,
    /// The label on a reply the AI wrote and an agent reviewed or edited.
    pub disclosure_reviewed: &'static str,
}

const EN: Phrases = Phrases {
    greeting: "Hi, thanks for reaching out!",
    lead_in: "Here is what our help center says:",
    more_info: "You can read more here:",
    no_answer: "Thanks for your message. A member of our support team will look into it and get back to you.",
    disclosure_ai: "This reply was written by an AI assistant and may be imprecise. Reply \"agent\" to reach a person.",
    disclosure_reviewed: "This reply was drafted by an AI assistant and reviewed by our support team.",
};

const PT: Phrases = Phrases {
    greeting: "Olá, obrigado por entrar em contato!",
    lead_in: "Veja o que diz a nossa central de ajuda:",
    more_info: "Saiba mais aqui:",
    no_answer: "Obrigado pela sua mensagem. Uma pessoa da nossa equipe de suporte vai analisar e responder em breve.",
    disclosure_ai: "Esta resposta foi escrita por um assistente de IA e pode conter imprecisões. Responda \"atendente\" para falar com uma pessoa.",
    disclosure_reviewed: "Esta resposta foi redigida por um assistente de IA e revisada pela nossa equipe de suporte.",
};

const IT: Phrases = Phrases {
    greeting: "Ciao, grazie per averci scritto!",
    lead_in: "Ecco cosa dice il nostro centro assistenza:",
    more_info: "Puoi leggere di più qui:",
    no_answer: "Grazie per il tuo messaggio. Una persona del nostro team di assistenza lo esaminerà e ti risponderà.",
    disclosure_ai: "Questa risposta è stata scritta da un assistente IA e potrebbe essere imprecisa. Rispondi \"operatore\" per parlare con una persona.",
    disclosure_reviewed: "Questa risposta è stata preparata da un assistente IA e verificata dal nostro team di assistenza.",
};

const ES: Phrases = Phrases {
    greeting: "¡Hola, gracias por escribirnos!",
    lead_in: "Esto es lo que dice nuestro centro de ayuda:",
    more_info: "Puedes leer más aquí:",
    no_answer: "Gracias por tu mensaje. Una persona de nuestro equipo de soporte lo revisará y te responderá.",
    disclosure_ai: "Esta respuesta fue escrita por un asistente de IA y puede ser imprecisa. Responde \"agente\" para hablar con una persona.",
    disclosure_reviewed: "Esta respuesta fue redactada por un asistente de IA y revisada por nuestro equipo de soporte.",
};

const FR: Phrases = Phrases {
    greeting: "Bonjour, merci de nous avoir contactés !",
    lead_in: "Voici ce qu'indique notre centre d'aide :",
    more_info: "Pour en savoir plus :",
    no_answer: "Merci pour votre message. Une personne de notre équipe d'assistance va l'examiner et vous répondre.",
    disclosure_ai: "Cette réponse a été rédigée par un assistant IA et peut être imprécise. Répondez « agent » pour parler à une personne.",
    disclosure_reviewed: "Cette réponse a été rédigée par un assistant IA et vérifiée par notre équipe d'assistance.",
};

const DE: Phrases = Phrases {
    greeting: "Hallo, danke für Ihre Nachricht!",
    lead_in: "Das sagt unser Hilfe-Center dazu:",
    more_info: "Mehr dazu hier:",
    no_answer: "Danke für Ihre Nachricht. Eine Person aus unserem Support-Team sieht sie sich an und meldet sich bei Ihnen.",
    disclosure_ai: "Diese Antwort wurde von einem KI-Assistenten geschrieben und kann ungenau sein. Antworten Sie \"Mitarbeiter\", um mit einer Person zu sprechen.",
    disclosure_reviewed: "Diese Antwort wurde von einem KI-Assistenten entworfen und von unserem Support-Team geprüft.",
};

impl Phrases {
    /// A reply of the extractive drafter without its own fixed lines (the
    /// greeting, the lead-in, the link line, the holding reply): what it
    /// quoted.
    pub fn without_fixed_lines(&self, body: &str) -> String {
        body.split("\n\n")
            .filter(|part| {
                let part = part.trim();
                part != self.greeting
                    && part != self.lead_in
                    && part != self.no_answer
                    && !part.starts_with(self.more_info)
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

pub fn for_locale(locale: &str) -> &'static Phrases {
    match locale {
        "pt" => &PT,
        "it" => &IT,
        "es" => &ES,
        "fr" => &FR,
        "de" => &DE,
        _ => &EN,
    }
}
